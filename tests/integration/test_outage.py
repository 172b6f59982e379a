"""Nothing is lost to a broker outage (issue 12, items 6 and 7), on both brokers.

The broker is restarted for real: the managed Mosquitto is killed (SIGKILL, ``persistence
false``: every retained message and session is gone) and started again on its port; the embedded
amqtt broker is cut off and started again in-process. Virtual time where it fits (the clock
stands still while the clients are away); real time, kept to a few seconds, where the outage has
to fall in the middle of a flow's step.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from hyperhome.broker.client import BusClient, Message
from hyperhome.broker.topics import ORCHESTRATOR
from hyperhome.devices.clock import iso, parse_time
from hyperhome.orchestrator.controller import Controller
from hyperhome.scenarios.runtime import Home

WAIT_S = 20.0
"""Wall-clock bound on anything a test waits for (reconnects take well under 3 s)."""


class FlowEvents:
    """The orchestrator's ``flow_ended`` events a controller saw, and a wait for one."""

    def __init__(self) -> None:
        self.ended: list[dict[str, Any]] = []
        self._changed = asyncio.Event()

    def __call__(self, message: Message) -> None:
        self.ended.append(message.json())
        self._changed.set()

    async def ended_for(self, flow_id: str) -> dict[str, Any]:
        async with asyncio.timeout(WAIT_S):
            while True:
                found = [e for e in self.ended if e["flow_id"] == flow_id]
                if found:
                    return found[-1]
                self._changed.clear()
                await self._changed.wait()


async def _flow_events(ctl: Controller) -> FlowEvents:
    events = FlowEvents()
    await ctl.bus.subscribe(ctl.topics.event(ORCHESTRATOR, "flow_ended"), events)
    return events


@contextlib.asynccontextmanager
async def _fresh(home: Home) -> AsyncIterator[Controller]:
    """A controller that connects now: it sees only what the broker holds retained."""
    async with home.controller() as ctl:
        await ctl.synced()
        yield ctl


async def _all_back(home: Home) -> None:
    """Every client of the home is connected again after a restart."""
    buses = [d.bus for d in home.devices.values()]
    assert home.orchestrator is not None
    buses.append(home.orchestrator.bus)
    for bus in buses:
        assert isinstance(bus, BusClient)
        await bus.wait_connected(WAIT_S)


# -- a flow survives a broker restart ------------------------------------------------------------------
async def test_flows_come_through_a_broker_restart_with_their_statuses_republished(
    home: Home, controller: Controller
) -> None:
    events = await _flow_events(controller)
    done = await controller.start_flow("precool", {"ac": "bedroom-ac", "target_c": 29, "start_now": True, "user": "alice"})
    assert (await controller.wait_flow(done, timeout_s=3600))["state"] == "succeeded"
    arrive = home.clock.now() + 2 * 3600
    running = await controller.start_flow("precool", {"target_c": 24, "arrive_at": iso(arrive), "user": "alice"})
    await home.clock.sleep(600)
    assert controller.flows[running]["state"] == "running"

    await home.restart_broker(down_s=0.2)
    await _all_back(home)
    await home.clock.sleep(1)  # virtual time moves on only once every client is back

    # the broker lost every retained message; the orchestrator published them again
    async with _fresh(home) as fresh:
        assert fresh.flows[done]["state"] == "succeeded"
        assert fresh.flows[running]["state"] == "running"
        assert [s["name"] for s in fresh.flows[running]["steps"]] == ["plan"]
    status = await controller.wait_flow(running, timeout_s=3 * 3600)
    assert status["state"] == "succeeded", status["error"]
    assert parse_time(status["result"]["started_at"]) == parse_time(status["result"]["planned_start"])
    assert (await events.ended_for(running))["state"] == "succeeded"
