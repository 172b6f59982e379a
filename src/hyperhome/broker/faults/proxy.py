"""A TCP fault proxy for one link: a listener on 127.0.0.1 that forwards to the broker.

```python
async with LinkProxy("phone", "127.0.0.1", broker_port) as proxy:   # proxy.port: connect here
    proxy.latency_s = 0.3        # every byte waits 300 ms, each way, in order
    proxy.stall()                # nothing goes through; the connection stays up, bytes are held
    proxy.resume()               # what was held goes on, in order
    proxy.drop()                 # every connection is reset now (RST); new ones come through
    proxy.refuse(True)           # new connections are reset as they come (a partition, with drop)
```

Bytes are forwarded untouched (TLS passes through; nothing is parsed). Each connection is two
pipes, device to broker and broker to device; a pipe reads whatever arrives, stamps it with the
wall time at which it may leave (now + ``latency_s``, never before what came earlier), and writes
it then, unless the link is stalled. While stalled a pipe keeps reading into memory, up to
``HELD_MAX_BYTES``; past that it stops reading and TCP pushes back on the sender. When one side
closes, the other is closed after what is left has been written; when one side is reset, the
other is reset too.

Times here are wall-clock seconds: the home's fault control (``home/faults.py``) turns the
home's simulated seconds into them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections import deque
from typing import TYPE_CHECKING

from hyperhome.errors import BrokerError

if TYPE_CHECKING:
    from types import TracebackType

log = logging.getLogger(__name__)

HELD_MAX_BYTES = 8 * 1024 * 1024
"""Bytes one direction of one connection holds while stalled before it stops reading."""
CONNECT_TIMEOUT_S = 10.0
"""Wall seconds to reach the broker for a new connection (then the device's side is reset)."""
_CHUNK_BYTES = 64 * 1024


class _Reset(Exception):
    """A side of the connection was reset (or the link dropped it): reset the other."""


class _Pipe:
    """One direction of one connection: read, hold until due (and not stalled), write."""

    def __init__(self, link: LinkProxy, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._link = link
        self._reader = reader
        self._writer = writer
        self._queue: deque[tuple[float, bytes]] = deque()
        self._held = 0
        self._last_due = 0.0
        self._eof = False
        self._changed = asyncio.Event()

    @property
    def held_bytes(self) -> int:
        return self._held

    def poke(self) -> None:
        self._changed.set()

    async def pump_in(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while self._held >= HELD_MAX_BYTES:
                await self._wait_change()
            try:
                data = await self._reader.read(_CHUNK_BYTES)
            except OSError as exc:
                raise _Reset(str(exc)) from None
            if not data:
                self._eof = True
                self.poke()
                return
            due = max(loop.time() + self._link.latency_s, self._last_due)
            self._last_due = due
            self._queue.append((due, data))
            self._held += len(data)
            self.poke()

    async def pump_out(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self._link.stalled or not self._queue:
                if self._eof and not self._queue:
                    return  # the sender closed and everything is written: close this side
                await self._wait_change()
                continue
            due, data = self._queue[0]
            wait_s = due - loop.time()
            if wait_s > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait_s):
                        await self._wait_change()  # a stall meanwhile holds the chunk
                continue
            self._queue.popleft()
            self._held -= len(data)
            self.poke()  # the reader may be waiting for room
            try:
                self._writer.write(data)
                await self._writer.drain()
            except OSError as exc:
                raise _Reset(str(exc)) from None

    async def _wait_change(self) -> None:
        self._changed.clear()
        await self._changed.wait()


class _Connection:
    """One device connection through the link: two pipes and both sockets."""

    def __init__(
        self,
        link: LinkProxy,
        device: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        broker: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    ) -> None:
        self._writers = (device[1], broker[1])
        self.up = _Pipe(link, device[0], broker[1])
        self.down = _Pipe(link, broker[0], device[1])

    @property
    def held_bytes(self) -> int:
        return self.up.held_bytes + self.down.held_bytes

    def poke(self) -> None:
        self.up.poke()
        self.down.poke()

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self.up.pump_in())
                group.create_task(self.down.pump_in())
                # the first pipe to finish (its sender closed) ends the connection
                outs = [group.create_task(self.up.pump_out()), group.create_task(self.down.pump_out())]
                await asyncio.wait(outs, return_when=asyncio.FIRST_COMPLETED)
                raise _Closed
        except* _Closed:
            self.close()
        except* _Reset:
            self.reset()

    def close(self) -> None:
        for writer in self._writers:
            with contextlib.suppress(OSError, RuntimeError):
                writer.close()

    def reset(self) -> None:
        """Close both sockets with a TCP reset, as a broken network path does."""
        for writer in self._writers:
            _reset(writer)


class _Closed(Exception):
    """One side closed cleanly and what it sent is written: close the other side."""


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class LinkProxy:
    """The fault proxy of one link; see the module docstring. An async context manager."""

    def __init__(self, name: str, upstream_host: str, upstream_port: int, *, host: str = "127.0.0.1") -> None:
        self.name = name
        self.upstream = (upstream_host, upstream_port)
        self.host = host
        self.port = 0
        self._latency_s = 0.0
        self.stalled = False
        self.refusing = False
        self.drops = 0
        """Connections reset by ``drop`` or refused while ``refusing``."""
        self.accepted = 0
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> LinkProxy:
        try:
            self._server = await asyncio.start_server(self._accept, self.host, 0)
        except OSError as exc:
            msg = f"the fault proxy for {self.name} could not listen on {self.host}: {exc.strerror or exc}"
            raise BrokerError(msg) from None
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for connection in list(self._connections):
            connection.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    # -- what a link does ----------------------------------------------------------------------
    @property
    def latency_s(self) -> float:
        """Wall seconds every byte waits, each way (for bytes read from now on)."""
        return self._latency_s

    @latency_s.setter
    def latency_s(self, value: float) -> None:
        if value < 0:
            msg = f"a latency cannot be negative: {value}"
            raise ValueError(msg)
        self._latency_s = value

    def stall(self) -> None:
        """Stop forwarding; connections stay open and what arrives is held."""
        self.stalled = True

    def resume(self) -> None:
        """Forward again, what was held first."""
        self.stalled = False
        for connection in self._connections:
            connection.poke()

    def drop(self) -> None:
        """Reset every connection of the link now (what was held is lost with it)."""
        for connection in list(self._connections):
            connection.reset()
            self.drops += 1

    def refuse(self, on: bool) -> None:
        """While on, reset every new connection as it is accepted."""
        self.refusing = on

    @property
    def connections(self) -> int:
        return len(self._connections)

    @property
    def held_bytes(self) -> int:
        return sum(c.held_bytes for c in self._connections)

    # -- connections -----------------------------------------------------------------------------
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except asyncio.CancelledError:
            # the proxy is closing (it cancelled this task). Ending quietly: asyncio's server
            # asks a cancelled connection task for its exception and logs the CancelledError
            writer.transport.abort()
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            self.drops += 1
            _reset(writer)
            return
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                broker = await asyncio.open_connection(*self.upstream)
        except (OSError, TimeoutError) as exc:
            log.info("fault proxy %s: cannot reach the broker at %s:%d (%s)", self.name, *self.upstream, exc)
            _reset(writer)
            return
        if self.refusing:  # the link was cut while we reached the broker
            self.drops += 1
            _reset(writer)
            _reset(broker[1])
            return
        _no_delay(writer)
        _no_delay(broker[1])
        connection = _Connection(self, (reader, writer), broker)
        self.accepted += 1
        self._connections.add(connection)
        try:
            await connection.run()
        finally:
            self._connections.discard(connection)


def _no_delay(writer: asyncio.StreamWriter) -> None:
    # small MQTT packets: without this Nagle and delayed ACKs add tens of milliseconds
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
