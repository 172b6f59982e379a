"""While the API's own MQTT connection is down it does not claim to know who is online.

The API reaches the broker through a link the test cuts (the devices keep theirs): the real
server on 127.0.0.1 then answers ``online: null`` and ``bus: disconnected``, 503 on
``/api/health`` and on commands, and once the link is back, live answers again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from hyperhome.broker.client import Endpoint, MqttConnector
from hyperhome.broker.faults import LinkProxy
from hyperhome.home.homefile import load_home
from hyperhome.home.runtime import Home
from hyperhome.web import HomeLink, Settings, create_app, serve

WAIT_S = 20.0


@dataclass
class Api:
    home: Home
    link: LinkProxy
    """The API's own link to the broker, through the fault proxy."""

    def cut(self) -> None:
        """A partition: the connection is reset and new ones are refused until ``restore``."""
        self.link.refuse(True)
        self.link.drop()

    def restore(self) -> None:
        self.link.refuse(False)

    client: httpx.AsyncClient

    async def health_becomes(self, status_code: int) -> httpx.Response:
        """Ask ``/api/health`` until it answers ``status_code`` (each ask is a real round trip)."""
        async with asyncio.timeout(WAIT_S):
            while (response := await self.client.get("/api/health")).status_code != status_code:
                pass
        return response


@pytest.fixture
async def api(broker_kind: str) -> AsyncIterator[Api]:
    async with Home(load_home("demo"), broker=broker_kind, speed=1.0) as home:
        assert home.credentials is not None
        assert home.endpoint is not None
        async with LinkProxy("api", home.endpoint.host, home.endpoint.port) as link:
            through_link = MqttConnector(Endpoint(link.host, link.port))
            app = create_app(
                HomeLink(through_link, home.credentials.controller, home.topics, clock=home.clock),
                settings=Settings(reply_timeout_s=2.0),
            )
            async with serve(app, port=0) as url, httpx.AsyncClient(base_url=url, timeout=15.0) as client:
                yield Api(home, link, client)


async def test_without_its_connection_the_api_says_it_does_not_know(api: Api) -> None:
    healthy = await api.client.get("/api/health")
    assert (healthy.status_code, healthy.json()["bus"]) == (200, "connected")
    assert all(d["online"] is True for d in (await api.client.get("/api/devices")).json())

    api.cut()
    down = await api.health_becomes(503)
    assert down.json()["bus"] == "disconnected"
    devices = (await api.client.get("/api/devices")).json()
    assert devices, "what it last saw is still listed"
    assert [d["online"] for d in devices] == [None] * len(devices), "unknown, not online"
    assert (await api.client.get("/api/devices/living-ac")).json()["online"] is None
    home = (await api.client.get("/api/home")).json()
    assert (home["bus"], home["orchestrator"]) == ("disconnected", None)
    command = await api.client.post("/api/devices/living-ac/commands/set", json={"power": True})
    assert (command.status_code, command.json()["code"]) == (503, "not_connected")
    flow = await api.client.post("/api/flows/precool", json={"start_now": True, "user": "alice"})
    assert (flow.status_code, flow.json()["code"]) == (503, "not_connected")

    api.restore()
    await api.health_becomes(200)
    assert all(d["online"] is True for d in (await api.client.get("/api/devices")).json())
    assert (await api.client.post("/api/devices/living-ac/commands/set", json={"power": True})).status_code == 200
