"""The TCP fault proxy with real sockets: an echo server behind it, a client in front."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from hyperhome.broker.faults import LinkProxy

HELD_CHECK_S = 0.3  # how long bytes must stay held to count as held (a bounded wait for a non-event)


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


@pytest.fixture
async def proxy() -> AsyncIterator[LinkProxy]:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, LinkProxy("phone", "127.0.0.1", port) as link:
        yield link


async def _connect(proxy: LinkProxy) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", proxy.port)


async def _round_trip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes) -> float:
    began = time.perf_counter()
    writer.write(data)
    await writer.drain()
    async with asyncio.timeout(5):
        assert await reader.readexactly(len(data)) == data
    return time.perf_counter() - began


async def test_bytes_pass_both_ways_untouched(proxy: LinkProxy) -> None:
    reader, writer = await _connect(proxy)
    payload = bytes(range(256)) * 1000  # every byte value, 256 kB
    await _round_trip(reader, writer, payload)
    assert proxy.connections == 1
    writer.close()


async def test_latency_delays_each_way(proxy: LinkProxy) -> None:
    reader, writer = await _connect(proxy)
    plain = await _round_trip(reader, writer, b"ping")
    proxy.latency_s = 0.2
    slow = await _round_trip(reader, writer, b"ping")
    assert 0.4 <= slow < 0.4 + 0.25, slow  # 200 ms out, 200 ms back, little else
    proxy.latency_s = 0.0
    again = await _round_trip(reader, writer, b"ping")
    assert again < 0.1, (plain, again)
    writer.close()


async def test_latency_keeps_the_order_when_lowered(proxy: LinkProxy) -> None:
    reader, writer = await _connect(proxy)
    proxy.latency_s = 0.3
    writer.write(b"first ")
    await writer.drain()
    await asyncio.sleep(0.01)  # the proxy reads "first" under the higher latency
    proxy.latency_s = 0.0
    writer.write(b"second")
    await writer.drain()
    async with asyncio.timeout(5):
        assert await reader.readexactly(12) == b"first second"
    writer.close()


async def test_a_stall_holds_bytes_and_keeps_the_connection(proxy: LinkProxy) -> None:
    reader, writer = await _connect(proxy)
    await _round_trip(reader, writer, b"hello")
    proxy.stall()
    writer.write(b"held")
    await writer.drain()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(HELD_CHECK_S):
            await reader.read(1)
    assert proxy.held_bytes == 4
    assert proxy.connections == 1
    assert not reader.at_eof()
    proxy.resume()
    async with asyncio.timeout(5):
        assert await reader.readexactly(4) == b"held"
    assert proxy.held_bytes == 0
    writer.close()


async def test_drop_resets_the_connection_and_the_next_one_comes_through(proxy: LinkProxy) -> None:
    reader, writer = await _connect(proxy)
    await _round_trip(reader, writer, b"hello")
    proxy.drop()
    with pytest.raises(ConnectionResetError):
        async with asyncio.timeout(5):
            await reader.read(1)
    assert proxy.drops == 1
    reader, writer = await _connect(proxy)
    await _round_trip(reader, writer, b"again")
    writer.close()


async def test_a_partition_refuses_connections_until_healed(proxy: LinkProxy) -> None:
    reader, writer = await _connect(proxy)
    await _round_trip(reader, writer, b"hello")
    proxy.refuse(True)
    proxy.drop()
    for _ in range(3):
        refused_reader, refused_writer = await _connect(proxy)
        with pytest.raises(ConnectionResetError):
            async with asyncio.timeout(5):
                await refused_reader.read(1)
        refused_writer.close()
    assert proxy.drops == 4
    proxy.refuse(False)
    reader, writer = await _connect(proxy)
    await _round_trip(reader, writer, b"healed")
    writer.close()


async def test_closing_one_side_closes_the_other(proxy: LinkProxy) -> None:
    reader, writer = await _connect(proxy)
    await _round_trip(reader, writer, b"bye")
    writer.write_eof()
    async with asyncio.timeout(5):
        assert await reader.read() == b""  # the echo server saw the end and closed: so do we
    writer.close()
