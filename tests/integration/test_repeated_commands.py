"""A command is applied once, on both brokers: a QoS 1 duplicate and a controller's retry after a
timeout (the same command id, again) get the first reply, to a device and to the orchestrator."""

from __future__ import annotations

import json
from typing import Any

from hyperhome.broker.topics import ORCHESTRATOR
from hyperhome.broker.wire import Command
from hyperhome.home.runtime import Home
from hyperhome.orchestrator.controller import Controller
from tests.integration.conftest import Recorder

HANDOFF = {"call_device": "tablet", "source": {"device": "phone", "stream": "rear"}, "user": "alice"}


async def send_three_times(
    home: Home, controller: Controller, device: str, command: str, args: dict[str, Any], cmd_id: str
) -> None:
    """Once; again as a broker that delivers a QoS 1 message twice; again as a controller retrying."""
    first = await controller.request(device, command, args, command_id=cmd_id)
    await controller.bus.publish(controller.topics.cmd(device, command), Command(id=cmd_id, args=args).to_payload())
    retry = await controller.request(device, command, args, command_id=cmd_id)
    assert retry == first
    await home.clock.sleep(1)  # virtual time moves once every reply was delivered


def replies(recorder: Recorder, device: str, cmd_id: str) -> list[bytes]:
    return [m.payload for m in recorder.on(f"/{device}/reply") if m.json().get("id") == cmd_id]


async def test_a_flow_command_sent_again_with_its_id_starts_one_flow_and_gets_the_same_reply(
    home: Home, controller: Controller, recorder: Recorder
) -> None:
    await controller.send("tablet", "call.start", {"with": "colleague"})
    await send_three_times(home, controller, ORCHESTRATOR, "camera_handoff", HANDOFF, "handoff-1")
    answers = replies(recorder, ORCHESTRATOR, "handoff-1")
    assert len(answers) == 3
    assert len(set(answers)) == 1, answers
    flow_id = json.loads(answers[0])["result"]["flow_id"]
    started = recorder.json_on(f"{ORCHESTRATOR}/event/flow_started")
    assert [(e["flow_id"], e["kind"]) for e in started] == [(flow_id, "camera_handoff")]
    assert [s.id for s in controller.flows.values() if s.kind == "camera_handoff"] == [flow_id]


async def test_a_device_command_sent_again_with_its_id_is_applied_once_and_gets_the_same_reply(
    home: Home, controller: Controller, recorder: Recorder
) -> None:
    await send_three_times(home, controller, "speaker", "say", {"text": "dinner is ready"}, "say-1")
    answers = replies(recorder, "speaker", "say-1")
    assert len(answers) == 3
    assert len(set(answers)) == 1, answers
    assert [e["text"] for e in recorder.json_on("speaker/event/spoke")] == ["dinner is ready"]


async def test_an_id_reused_for_other_args_is_refused_and_changes_nothing(
    controller: Controller, recorder: Recorder
) -> None:
    first = await controller.request("speaker", "say", {"text": "hello"}, command_id="say-2")
    assert first.ok
    reused = await controller.request("speaker", "say", {"text": "goodbye"}, command_id="say-2")
    assert reused.error is not None
    assert reused.error.code == "bad_request"
    assert "already used by a 'say' command with other args" in reused.error.message
    flow = await controller.request(ORCHESTRATOR, "precool", {"start_now": True, "user": "alice"}, command_id="p-1")
    assert flow.result is not None
    other = await controller.request(ORCHESTRATOR, "flow.cancel", {"flow_id": flow.result["flow_id"]}, command_id="p-1")
    assert other.error is not None
    assert other.error.code == "bad_request"
    assert [e["text"] for e in recorder.json_on("speaker/event/spoke")] == ["hello"]
    assert controller.flows[flow.result["flow_id"]].state == "running"
