"""The flow engine on the in-memory bus (no broker): statuses, refusals, aborts, cancellation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import Field

from hyperhome.broker.credentials import Login
from hyperhome.broker.memory import MemoryBroker
from hyperhome.broker.topics import Topics
from hyperhome.devices.base import DeviceSpec
from hyperhome.devices.clock import VirtualClock
from hyperhome.devices.phone import Phone
from hyperhome.devices.tablet import Tablet
from hyperhome.errors import CommandError, ErrorCode
from hyperhome.orchestrator.controller import Controller
from hyperhome.orchestrator.flows import KINDS
from hyperhome.orchestrator.flows.base import Flow, FlowArgs, FlowContext
from hyperhome.orchestrator.service import Orchestrator


class WaitArgs(FlowArgs):
    device: str
    wait_s: float = Field(10.0, gt=0)


class Wait(Flow[WaitArgs]):
    """A test flow: waits while ``device`` stays online, then succeeds."""

    kind = "wait"
    Args = WaitArgs
    cleaned: list[str] = []  # noqa: RUF012 - a log the tests read

    @classmethod
    def check(cls, args: WaitArgs, ctx: FlowContext) -> None:
        if not ctx.online(args.device):
            msg = f"{args.device} is offline"
            raise CommandError(ErrorCode.REJECTED, msg)

    async def run(self) -> dict[str, Any] | None:
        async with self.abort_if_offline(self.args.device), self.step("wait"):
            await self.sleep(self.args.wait_s)
        return {"waited_s": self.args.wait_s}

    async def cleanup(self) -> None:
        Wait.cleaned.append(self.id)


@dataclass
class MiniHome:
    clock: VirtualClock
    broker: MemoryBroker
    ctl: Controller
    phone: Phone
    tablet: Tablet


@pytest.fixture
async def mini() -> AsyncIterator[MiniHome]:
    clock, broker, topics = VirtualClock(), MemoryBroker(), Topics("test")
    async with clock:
        clock.add_barrier(broker)
        phone = Phone(DeviceSpec(id="phone", kind="phone", owner="alice"), home="test", clock=clock, topics=topics)
        tablet = Tablet(DeviceSpec(id="tablet", kind="tablet", owner="alice"), home="test", clock=clock, topics=topics)
        for device in (phone, tablet):
            await device.start(broker.connector, Login(username=f"test.{device.id}", password="-"))
        kinds = {**KINDS, Wait.kind: Wait}
        login = Login(username="test.$orchestrator", password="-")
        async with Orchestrator(broker.connector, login, topics, clock=clock, residents=["alice"], kinds=kinds):
            ctl = Controller(broker.connector, Login(username="test.$controller", password="-"), topics, clock=clock)
            async with ctl:
                await clock.settle()
                await ctl.synced()
                yield MiniHome(clock, broker, ctl, phone, tablet)
        await tablet.stop()
        await phone.stop()


async def test_a_flow_runs_to_success_with_a_retained_status(mini: MiniHome) -> None:
    flow_id = await mini.ctl.start_flow("wait", {"device": "phone", "wait_s": 3, "user": "alice"})
    assert flow_id == "f-1"
    status = await mini.ctl.wait_flow(flow_id)
    assert status.state == "succeeded"
    assert status.result == {"waited_s": 3}
    assert status.user == "alice"
    assert [(s.name, s.state) for s in status.steps] == [("wait", "done")]


async def test_refusals_carry_the_wire_codes(mini: MiniHome) -> None:
    cases: list[tuple[str, dict[str, Any], str, str]] = [
        ("nope", {}, "unknown_command", "no flow 'nope'"),
        ("wait", {"device": "phone", "wait_s": -1}, "invalid_args", "wait_s"),
        ("wait", {"device": "phone", "user": "eve"}, "forbidden", "not a resident"),
        ("flow.cancel", {"flow_id": "f-99"}, "rejected", "no running flow"),
    ]
    for kind, args, code, words in cases:
        reply = await mini.ctl.request("$orchestrator", kind, args)
        assert reply.error is not None, kind
        assert reply.error.code == code
        assert words in reply.error.message


async def test_a_device_going_offline_interrupts_the_flow_with_a_reason(mini: MiniHome) -> None:
    flow_id = await mini.ctl.start_flow("wait", {"device": "phone", "wait_s": 60})
    await mini.clock.sleep(1)
    assert mini.phone.bus is not None
    mini.broker.drop(mini.phone.bus.client_id, refuse=True)  # its link is cut, and stays cut
    status = await mini.ctl.wait_flow(flow_id, timeout_s=5)
    assert status.state == "failed"
    assert status.error == "phone went offline"
    assert status.steps[0].state == "failed"
    assert flow_id in Wait.cleaned
    refused = await mini.ctl.request("$orchestrator", "wait", {"device": "phone"})
    assert refused.error is not None
    assert refused.error.code == "rejected"


async def test_cancel_cleans_up_and_ends_cancelled(mini: MiniHome) -> None:
    flow_id = await mini.ctl.start_flow("wait", {"device": "tablet", "wait_s": 60})
    await mini.clock.sleep(1)
    await mini.ctl.cancel_flow(flow_id)
    status = await mini.ctl.wait_flow(flow_id, timeout_s=5)
    assert status.state == "cancelled"
    assert status.error == "cancelled by request"
    assert flow_id in Wait.cleaned


async def test_handoff_on_the_memory_bus_and_fallback_when_the_phone_drops(mini: MiniHome) -> None:
    await mini.ctl.send("tablet", "call.start")
    args = {"call_device": "tablet", "source": {"device": "phone", "stream": "rear"}}
    flow_id = await mini.ctl.start_flow("camera_handoff", args)
    status = await mini.ctl.wait_flow(flow_id, lambda s: bool(s.result), timeout_s=10)
    assert (status.result or {})["first_frame_s"] == 0.0
    assert (status.result or {})["max_gap_frames"] == pytest.approx(1.0, abs=0.05)
    assert mini.tablet.state.source is not None
    assert mini.tablet.state.source.device == "phone"
    assert mini.phone.bus is not None
    mini.broker.drop(mini.phone.bus.client_id, refuse=True)  # its link is cut, and stays cut
    status = await mini.ctl.wait_flow(flow_id, timeout_s=5)
    assert status.state == "failed"
    assert status.error == "phone went offline after the handoff; fell back to tablet/front in 0.0 s"
    await mini.clock.sleep(1)
    assert mini.tablet.state.source is not None
    assert mini.tablet.state.source.device == "tablet"
    assert not mini.tablet.state.blank
