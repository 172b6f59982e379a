"""The web API during a broker outage, on both brokers: a command is refused at once with 503
``not_connected`` and never applied later (docs/protocol.md, "Commands during an outage")."""

from __future__ import annotations

import time
from typing import Any

from hyperhome.broker.client import BusClient
from tests.web.conftest import Web

WAIT_S = 20.0


def _api_bus(web: Web) -> BusClient:
    """The API's own MQTT connection (its controller's)."""
    assert web.app is not None
    bus = web.app.state.web.ctl.bus
    assert isinstance(bus, BusClient)
    return bus


async def test_commands_during_an_outage_are_503_not_connected_and_never_applied(web: Web) -> None:
    precool = {"target_c": 24, "arrive_at": "2099-01-01T00:00:00Z", "user": "alice"}
    start = await web.client.post("/api/flows/precool", json=precool)
    assert start.status_code == 201, start.text
    flow_id = start.json()["flow_id"]
    answers: list[tuple[str, int, dict[str, Any], float]] = []

    async def send_while_down() -> None:
        await _api_bus(web).wait_disconnected(WAIT_S)
        for method, route, body in [
            ("POST", "/api/devices/living-ac/commands/set", {"power": True, "target_c": 24}),
            ("POST", "/api/flows/precool", {"ac": "bedroom-ac", "start_now": True, "user": "alice"}),
            ("DELETE", f"/api/flows/{flow_id}", None),
        ]:
            began = time.monotonic()
            response = await web.client.request(method, route, json=body)
            answers.append((route, response.status_code, response.json(), time.monotonic() - began))

    await web.home.restart_broker(while_down=send_while_down)
    for route, status, body, took_s in answers:
        assert (status, body["code"]) == (503, "not_connected"), (route, body)
        assert "not sent" in body["detail"], body
        assert took_s < 1.0, f"{route} answered after {took_s:.2f} s, not at once"

    ac = web.home.devices["living-ac"]
    assert isinstance(ac.bus, BusClient)
    await ac.bus.wait_connected(WAIT_S)
    await _api_bus(web).wait_connected(WAIT_S)
    assert web.home.orchestrator is not None
    assert isinstance(web.home.orchestrator.bus, BusClient)
    await web.home.orchestrator.bus.wait_connected(WAIT_S)
    # a round trip after the reconnect: anything queued on the API's connection would be ahead of it
    probe = await web.client.post("/api/devices/living-ac/commands/estimate", json={"target_c": 24})
    assert probe.status_code == 200, probe.text
    # nothing of it was queued to be sent later: not the set, not the flow, not the cancel
    assert ac.state.power is False
    assert list(web.home.orchestrator.flows) == [flow_id]
    again = await web.client.post("/api/devices/living-ac/commands/set", json={"power": True, "target_c": 24})
    assert again.status_code == 200, again.text  # back: the same command goes through now
