"""The web API served for real: a demo home in real time on a real broker, uvicorn on 127.0.0.1.

``web`` is what ``hyperhome up`` runs, in-process: the same ``serve(create_app(...))`` on a free
port, and an httpx client pointed at it. Override ``settings`` or ``runs`` in a module to change
the app's timeouts or give it scenario runs, ``faults`` to run the home with fault proxies.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect

from hyperhome.home.homefile import load_home
from hyperhome.home.runtime import Home
from hyperhome.web import HomeLink, ScenarioRuns, Settings, create_app, serve


@dataclass
class Web:
    home: Home
    url: str
    client: httpx.AsyncClient
    app: FastAPI | None = None

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "api/events"

    @contextlib.asynccontextmanager
    async def events(self, *filters: str, snapshot: bool = True, **headers: str) -> AsyncIterator[Events]:
        """``WS /api/events`` with these topic filters; the hello message is read already."""
        query = "&".join(f"topic={quote(f, safe='')}" for f in filters)
        async with connect(f"{self.ws_url}?{query}&snapshot={str(snapshot).lower()}", additional_headers=headers) as ws:
            stream = Events(ws)
            stream.hello = await stream.next(lambda m: m["type"] == "hello")
            yield stream


@dataclass
class Events:
    """The JSON messages of one WebSocket, read on demand."""

    ws: ClientConnection
    hello: dict[str, Any] | None = None
    seen: list[dict[str, Any]] = field(default_factory=list)

    async def next(self, wanted: Callable[[dict[str, Any]], bool], *, timeout_s: float = 10.0) -> dict[str, Any]:
        """The next message ``wanted`` accepts (others are kept in ``seen``)."""
        async with asyncio.timeout(timeout_s):
            while True:
                message: dict[str, Any] = json.loads(await self.ws.recv())
                self.seen.append(message)
                if wanted(message):
                    return message

    async def send(self, control: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(control))


@pytest.fixture
def settings() -> Settings:
    return Settings(reply_timeout_s=2.0, flow_end_timeout_s=5.0)


@pytest.fixture
def runs() -> ScenarioRuns | None:
    return None


@pytest.fixture
def orchestrator() -> bool:
    return True


@pytest.fixture
def faults() -> bool:
    return False


@pytest.fixture
async def web(
    broker_kind: str, settings: Settings, runs: ScenarioRuns | None, orchestrator: bool, faults: bool
) -> AsyncIterator[Web]:
    plan = load_home("demo")
    async with Home(plan, broker=broker_kind, speed=1.0, orchestrator=orchestrator, faults=faults) as home:
        assert home.connect is not None
        assert home.credentials is not None
        link = HomeLink(home.connect, home.credentials.controller, home.topics, name=plan.name or "", clock=home.clock)
        app = create_app(link, runs=runs, settings=settings, faults=home.faults)
        async with serve(app, port=0) as url, httpx.AsyncClient(base_url=url, timeout=15.0) as client:
            yield Web(home, url, client, app)
