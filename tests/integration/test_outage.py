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
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hyperhome.broker.client import BusClient, Message
from hyperhome.broker.topics import ORCHESTRATOR
from hyperhome.broker.wire import FlowStatus
from hyperhome.devices.clock import iso, parse_time
from hyperhome.errors import NotConnectedError
from hyperhome.home.homefile import HomeFile
from hyperhome.home.runtime import Home
from hyperhome.orchestrator.controller import Controller
from hyperhome.scenarios.runner import Progress, StepFailed, _Run
from hyperhome.scenarios.runner import Recorder as ScenarioRecorder
from hyperhome.scenarios.scenario import load_scenario
from tests.processes import run_hyperhome

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
    quick = {"ac": "bedroom-ac", "target_c": 29, "start_now": True, "user": "alice"}
    done = await controller.start_flow("precool", quick)
    assert (await controller.wait_flow(done, timeout_s=3600)).state == "succeeded"
    arrive = home.clock.now() + 2 * 3600
    running = await controller.start_flow("precool", {"target_c": 24, "arrive_at": iso(arrive), "user": "alice"})
    await home.clock.sleep(600)
    assert controller.flows[running].state == "running"

    await home.restart_broker(down_s=0.2)
    await _all_back(home)
    await home.clock.sleep(1)  # virtual time moves on only once every client is back

    # the broker lost every retained message; the orchestrator published them again
    async with _fresh(home) as fresh:
        assert fresh.flows[done].state == "succeeded"
        assert fresh.flows[running].state == "running"
        assert [s.name for s in fresh.flows[running].steps] == ["plan"]
    status = await controller.wait_flow(running, timeout_s=3 * 3600)
    assert status.state == "succeeded", status.error
    assert parse_time((status.result or {})["started_at"]) == parse_time((status.result or {})["planned_start"])
    assert (await events.ended_for(running))["state"] == "succeeded"


async def test_a_precool_whose_start_falls_in_an_outage_starts_the_ac_once_the_broker_is_back(
    broker_kind: str, plan: HomeFile
) -> None:
    speed = 10.0  # 1 s of wall time is 10 simulated seconds; commands still have 0.5 s to answer
    async with Home(plan, broker=broker_kind, speed=speed) as home, home.controller(in_sim_time=False) as ctl:
        await ctl.synced()
        events = await _flow_events(ctl)
        estimate = await ctl.send("living-ac", "estimate", {"target_c": 24, "mode": "cool"})
        arrive = home.clock.now() + estimate["minutes"] * 60 + 1.5 * speed  # the start 1.5 s (wall) from now
        flow_id = await ctl.start_flow("precool", {"target_c": 24, "arrive_at": iso(arrive), "user": "alice"})
        planned = await ctl.wait_flow(flow_id, lambda s: "planned_start" in (s.result or {}), timeout_s=WAIT_S)
        start = parse_time((planned.result or {})["planned_start"])
        assert orchestrator_flow_step(home, flow_id) == ("plan", "done")

        async def past_the_planned_start() -> None:
            await home.clock.sleep_until(start + 2)
            assert orchestrator_flow_step(home, flow_id) == ("start_ac", "running"), "the start came in the outage"

        await home.restart_broker(down_s=0.5, while_down=past_the_planned_start)

        started = await ctl.wait_flow(flow_id, lambda s: "started_at" in (s.result or {}), timeout_s=WAIT_S)
        assert (started.state, _step_state(started, "start_ac")) == ("running", "done")
        assert parse_time((started.result or {})["started_at"]) > start  # late by the outage, not lost
        await ctl.synced()
        assert ctl.registry.devices["living-ac"].state["power"] is True  # type: ignore[index]

        await ctl.cancel_flow(flow_id)
        ended = await events.ended_for(flow_id)
        assert (ended["state"], ended["error"]) == ("cancelled", "cancelled by request")
        async with home.controller(in_sim_time=False) as fresh:
            await fresh.synced()
            assert fresh.flows[flow_id].state == "cancelled"  # retained on the restarted broker
        async with asyncio.timeout(WAIT_S):  # the clean-up switched the AC off again
            await ctl.registry.wait_for(lambda r: (r.devices["living-ac"].state or {}).get("power") is False)


def orchestrator_flow_step(home: Home, flow_id: str) -> tuple[str, str]:
    """The flow's last step and its state, as the orchestrator holds it (no broker needed)."""
    assert home.orchestrator is not None
    step = home.orchestrator.flows[flow_id].steps[-1]
    return step.name, step.state


def _step_state(status: FlowStatus, name: str) -> str | None:
    states = [s.state for s in status.steps if s.name == name]
    return states[-1] if states else None


# -- clean-up reaches a device that was away ---------------------------------------------------------------
async def test_the_hotspot_of_a_phone_that_was_offline_at_clean_up_is_stopped_when_it_is_back(
    home: Home, controller: Controller
) -> None:
    await controller.send("tablet", "simulate.wifi", {"ssid": "cafe-guest", "link": "up"})  # asks for a share
    await home.clock.sleep(1)
    (flow,) = [s for s in controller.flows.values() if s.kind == "network_share"]
    shared = await controller.wait_flow(flow.id, lambda s: _step_state(s, "share") is not None, timeout_s=10)
    assert shared.state == "running"
    phone = home.devices["phone"]
    await phone.stop()  # offline: the share fails, and its clean-up cannot reach the phone now
    status = await controller.wait_flow(flow.id, timeout_s=10)
    assert status.state == "failed"
    assert home.orchestrator is not None
    assert [letter.command for letter in home.orchestrator.mailbox.waiting("phone")] == [
        "hotspot.release",
        "hotspot.stop",
    ]
    assert phone.state.hotspot.on  # what the phone comes back with

    assert home.connect is not None
    assert home.credentials is not None
    await phone.start(home.connect, home.credentials.device("phone"))
    await home.clock.sleep(1)
    await controller.synced()
    hotspot = controller.registry.devices["phone"].state["hotspot"]  # type: ignore[index]
    assert hotspot == {"on": False, "ssid": None, "clients": []}
    assert home.orchestrator.mailbox.waiting("phone") == []  # answered, so nothing is sent again


# -- commands sent during an outage: refused at once, never applied later ----------------------------------
async def test_a_controller_command_during_an_outage_fails_at_once_and_is_never_applied(
    home: Home, controller: Controller
) -> None:
    async def send_while_down() -> None:
        await controller.bus.wait_disconnected(WAIT_S)  # type: ignore[attr-defined]
        began = time.monotonic()
        with pytest.raises(NotConnectedError):
            await controller.send("living-ac", "set", {"power": True, "target_c": 24})
        assert time.monotonic() - began < 1.0, "refused at once, not after the reply timeout"

    await home.restart_broker(while_down=send_while_down)
    await _all_back(home)
    await _assert_ac_untouched(home, controller)


async def test_the_cli_refuses_a_command_during_an_outage_with_not_connected(
    home: Home, controller: Controller, tmp_path: Path
) -> None:
    assert home.credentials is not None
    creds = tmp_path / "credentials.json"
    home.credentials.save(creds)
    seen: list[tuple[int, str, str]] = []

    async def send_while_down() -> None:
        seen.append(await run_hyperhome("send", "living-ac", "set", '{"power": true}', "--credentials", str(creds)))

    began = time.monotonic()
    await home.restart_broker(while_down=send_while_down)
    assert time.monotonic() - began < 8, "not the 10 s connect or reply timeout"
    (result,) = seen
    code, out, err = result
    assert (code, out) == (2, ""), err
    assert err.startswith(
        f"error: not_connected: living-ac set was not sent: could not connect to 127.0.0.1:{home.credentials.port} "
    ), err
    assert err.count("\n") == 1
    assert "Traceback" not in err
    await _all_back(home)
    await _assert_ac_untouched(home, controller)


async def test_a_scenario_send_step_during_an_outage_reads_not_connected(home: Home, controller: Controller) -> None:
    scenario, _ = load_scenario("living_room_cooldown")
    run = _Run(scenario, home, controller, ScenarioRecorder(home.topics, home.clock, Progress()))
    outcomes: list[dict[str, Any]] = []
    failures: list[StepFailed] = []

    async def steps_while_down() -> None:
        await controller.bus.wait_disconnected(WAIT_S)  # type: ignore[attr-defined]
        set_args = {"power": True}
        outcomes.append(
            await run.command(0, "living-ac", "set", set_args, 10.0, expect_ok=False, expect_error="not_connected")
        )
        try:
            await run.command(1, "living-ac", "set", set_args, 10.0, expect_ok=True, expect_error=None)
        except StepFailed as exc:
            failures.append(exc)

    await home.restart_broker(while_down=steps_while_down)
    (reply,) = outcomes
    assert (reply["ok"], reply["error"]["code"]) == (False, "not_connected")
    (failed,) = failures
    assert failed.expected == "ok"
    assert failed.seen.startswith("error not_connected: ")
    await _all_back(home)
    await _assert_ac_untouched(home, controller)


async def _assert_ac_untouched(home: Home, controller: Controller) -> None:
    """Once every client is back, the AC is as it was: the refused command was not queued anywhere.

    A round trip to the AC first: anything queued on the controller's connection would be ahead
    of it, and five simulated seconds for what others might still send.
    """
    assert isinstance(controller.bus, BusClient)
    await controller.bus.wait_connected(WAIT_S)
    await controller.send("living-ac", "estimate", {"target_c": 24})
    await home.clock.sleep(5)
    assert home.devices["living-ac"].state.power is False
