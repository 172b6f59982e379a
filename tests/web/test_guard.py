"""What the real server lets in (uvicorn on 127.0.0.1, a real home): Host, Origin and bodies.

Bodies are limited by the bytes read, not by what Content-Length says (a chunked body has
none), and decoded as every HyperHome payload is; Host must name this machine and nothing
else; Origin must be the server's own exactly: scheme, host and port.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from hyperhome.broker.client import Message
from tests.web.conftest import Web

pytestmark = pytest.mark.parametrize("broker_kind", ["embedded"])

DISPLAY = "/api/devices/car/commands/display.show"
JSON = {"content-type": "application/json"}


def port_of(web: Web) -> int:
    port = urlsplit(web.url).port
    assert port is not None
    return port


async def test_a_chunked_body_over_the_limit_is_refused_and_nothing_reaches_the_car(web: Web) -> None:
    sent_to_car: list[Message] = []
    hello_seen = asyncio.Event()

    def on_car_command(message: Message) -> None:
        sent_to_car.append(message)
        if b"hello" in message.payload:
            hello_seen.set()

    async def eight_megabytes() -> AsyncIterator[bytes]:
        yield b'{"text": "'
        for _ in range(128):
            yield b"x" * 65536
        yield b'"}'

    async with web.home.controller(in_sim_time=False) as watcher:
        await watcher.bus.subscribe(watcher.topics.cmd("car", "#"), on_car_command)
        await watcher.synced()
        huge = await web.client.post(DISPLAY, content=eight_megabytes(), headers=JSON)
        assert "content-length" not in huge.request.headers, "the body went chunked"
        assert huge.status_code == 413
        assert huge.json()["code"] == "too_large"
        ok = await web.client.post(DISPLAY, json={"text": "hello"})
        assert ok.status_code == 200
        async with asyncio.timeout(10):
            await hello_seen.wait()
    assert len(sent_to_car) == 1, "only the small command went out (the API publishes in order)"


async def test_a_body_nested_too_deep_or_with_nan_is_a_bad_request(web: Web) -> None:
    before = (await web.client.get("/api/devices/living-ac")).json()["state"]
    for body, reason in (
        (b'{"power": true, "x": ' + b"[" * 30_000 + b"]" * 30_000 + b"}", "nested deeper than 32 levels"),
        (b'{"power": true, "target_c": NaN}', "NaN is not a JSON number"),
        (b'{"power": true, "target_c": 1e999}', "out of range"),
    ):
        refused = await web.client.post("/api/devices/living-ac/commands/set", content=body, headers=JSON)
        assert refused.status_code == 400, body[:40]
        assert refused.json()["code"] == "bad_request"
        assert reason in refused.json()["detail"]
    assert (await web.client.get("/api/devices/living-ac")).json()["state"] == before


async def test_a_host_that_is_not_this_machine_is_refused(web: Web) -> None:
    port = port_of(web)
    for host in (f"127.0.0.1:{port}@evil.example", "evil.example", f"evil.example:{port}", f"127.0.0.1:{port}.evil"):
        response = await web.client.get("/api/home", headers={"Host": host})
        assert response.status_code == 400, host
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        assert (await web.client.get("/api/home", headers={"Host": host})).status_code == 200, host


async def test_only_the_servers_own_origin_may_change_things(web: Web) -> None:
    port = port_of(web)
    foreign = (
        f"https://127.0.0.1:{port}",  # another scheme
        f"http://127.0.0.1:{port + 1}",  # another port
        "http://127.0.0.1",  # port 80
        f"http://evil.example:{port}",
        f"http://127.0.0.1:{port}@evil.example",
        "null",
    )
    for origin in foreign:
        refused = await web.client.post(DISPLAY, json={"text": "hi"}, headers={"Origin": origin})
        assert refused.status_code == 403, origin
        assert refused.json()["code"] == "cross_origin"
    for origin in (f"http://127.0.0.1:{port}", f"http://localhost:{port}"):
        own = await web.client.post(DISPLAY, json={"text": "hi"}, headers={"Origin": origin})
        assert own.status_code == 200, origin
    read = await web.client.get("/api/home", headers={"Origin": f"https://127.0.0.1:{port}"})
    assert read.status_code == 200, "reading needs no origin check: a foreign page cannot read it (no CORS)"


async def test_the_event_stream_opens_only_for_the_servers_own_origin(web: Web) -> None:
    port = port_of(web)
    for origin in (f"https://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}", "http://evil.example"):
        with pytest.raises(InvalidStatus) as refused:
            async with web.events("#", Origin=origin):
                pass
        assert refused.value.response.status_code == 403, origin
    async with web.events("#", Origin=f"http://localhost:{port}") as events:
        assert events.hello is not None


async def test_a_websocket_message_over_the_limit_closes_the_stream(web: Web) -> None:
    async with web.events("+/state") as events:
        await events.ws.send('{"subscribe": ["' + "x" * 70_000 + '"]}')
        with pytest.raises(ConnectionClosed) as closed:
            await events.next(lambda m: False)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009, "message too big"


async def test_a_websocket_control_nested_too_deep_is_answered_with_an_error(web: Web) -> None:
    async with web.events("+/state") as events:
        await events.ws.send('{"subscribe": ' + "[" * 1000 + "]" * 1000 + "}")
        error = await events.next(lambda m: m["type"] == "error")
        assert "nested deeper than 32 levels" in error["message"]
        await events.send({"subscribe": ["tablet/#"]})
        assert "tablet/#" in (await events.next(lambda m: m["type"] == "filters"))["filters"]


async def test_oversize_declared_bodies_are_refused_before_reading(web: Web) -> None:
    async with httpx.AsyncClient(base_url=web.url) as client:
        response = await client.post(DISPLAY, content=b"{" + b" " * 70_000 + b"}", headers=JSON)
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
