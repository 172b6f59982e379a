"""An orchestrator stopped while a flow runs leaves no task behind, within its bound."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from hyperhome.broker.credentials import Login
from hyperhome.broker.memory import MemoryBroker
from hyperhome.broker.topics import Topics
from hyperhome.devices.base import DeviceSpec
from hyperhome.devices.clock import VirtualClock
from hyperhome.devices.phone import Phone
from hyperhome.orchestrator import service
from hyperhome.orchestrator.controller import Controller
from hyperhome.orchestrator.flows import KINDS
from hyperhome.orchestrator.flows.base import Flow, FlowArgs
from hyperhome.orchestrator.service import Orchestrator

STOP_BOUND_S = 0.2


class StuckArgs(FlowArgs):
    pass


class Stuck(Flow[StuckArgs]):
    """A test flow whose clean-up never ends by itself (a clean-up waiting on a reply that will
    not come): the orchestrator's bound must still hold, and its task must still end."""

    kind = "stuck"
    Args = StuckArgs
    entered = asyncio.Event()

    async def run(self) -> dict[str, Any] | None:
        Stuck.entered.set()
        async with self.step("wait"):
            await asyncio.Event().wait()
        return None

    async def cleanup(self) -> None:
        await asyncio.Event().wait()


class Asleep(Flow[StuckArgs]):
    """A test flow asleep for an hour of virtual time."""

    kind = "asleep"
    Args = StuckArgs

    async def run(self) -> dict[str, Any] | None:
        async with self.step("sleep"):
            await self.sleep(3600)
        return None


@pytest.mark.parametrize("kind", [Stuck.kind, Asleep.kind])
async def test_an_orchestrator_stopped_while_a_flow_runs_leaves_no_task_behind(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "STOP_TIMEOUT_S", STOP_BOUND_S)
    Stuck.entered = asyncio.Event()
    clock, broker, topics = VirtualClock(), MemoryBroker(), Topics("test")
    async with clock:
        clock.add_barrier(broker)
        phone = Phone(DeviceSpec(id="phone", kind="phone", owner="alice"), home="test", clock=clock, topics=topics)
        await phone.start(broker.connector, Login(username="test.phone", password="-"))
        before = asyncio.all_tasks()
        login = Login(username="test.$orchestrator", password="-")
        kinds = {**KINDS, Stuck.kind: Stuck, Asleep.kind: Asleep}
        orchestrator = Orchestrator(broker.connector, login, topics, clock=clock, residents=["alice"], kinds=kinds)
        async with orchestrator:
            ctl = Controller(broker.connector, Login(username="test.$controller", password="-"), topics, clock=clock)
            async with ctl:
                await clock.settle()
                await ctl.synced()
                await ctl.start_flow(kind, {})
                if kind == Stuck.kind:
                    async with asyncio.timeout(5):
                        await Stuck.entered.wait()
                flow_tasks = [flow.task for flow in orchestrator.flows.values()]
                assert flow_tasks
            t0 = time.monotonic()
        stop_s = time.monotonic() - t0
        assert all(task is not None and task.done() for task in flow_tasks)
        assert asyncio.all_tasks() == before
        assert stop_s < 3 * STOP_BOUND_S + 0.5  # the grace, then the cancel's own bound
        await phone.stop()


class Stubborn(Flow[StuckArgs]):
    """A test flow whose clean-up, cancelled, carries on for a while (wall time)."""

    kind = "stubborn"
    Args = StuckArgs
    entered = asyncio.Event()

    async def run(self) -> dict[str, Any] | None:
        Stubborn.entered.set()
        await asyncio.Event().wait()
        return None

    async def cleanup(self) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await asyncio.sleep(STUBBORN_S)  # swallows the cancel: a bug the bound must survive


STUBBORN_S = 3.0


async def test_a_flow_resisting_cancellation_does_not_stretch_the_orchestrators_stop(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(service, "STOP_TIMEOUT_S", STOP_BOUND_S)
    Stubborn.entered = asyncio.Event()
    clock, broker, topics = VirtualClock(), MemoryBroker(), Topics("test")
    async with clock:
        clock.add_barrier(broker)
        phone = Phone(DeviceSpec(id="phone", kind="phone", owner="alice"), home="test", clock=clock, topics=topics)
        await phone.start(broker.connector, Login(username="test.phone", password="-"))
        login = Login(username="test.$orchestrator", password="-")
        orchestrator = Orchestrator(
            broker.connector, login, topics, clock=clock, residents=["alice"], kinds={Stubborn.kind: Stubborn}
        )
        async with orchestrator:
            ctl = Controller(broker.connector, Login(username="test.$controller", password="-"), topics, clock=clock)
            async with ctl:
                await clock.settle()
                await ctl.synced()
                await ctl.start_flow(Stubborn.kind, {})
                async with asyncio.timeout(5):
                    await Stubborn.entered.wait()
                task = next(iter(orchestrator.flows.values())).task
            t0 = time.monotonic()
        assert time.monotonic() - t0 < STUBBORN_S / 2
        assert "ignored cancellation" in caplog.text
        assert task is not None
        async with asyncio.timeout(2 * STUBBORN_S):
            await asyncio.wait({task})  # it does end, late; the test leaves nothing behind
        await phone.stop()
