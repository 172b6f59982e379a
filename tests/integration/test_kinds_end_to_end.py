"""Every kind in the demo home: one command and one event through a real broker, on both."""

from __future__ import annotations

from typing import Any

import pytest

from hyperhome.home.runtime import Home
from hyperhome.orchestrator.controller import Controller

from .conftest import Recorder

# device, command, args, the event it causes, fields that event must carry, seconds to let pass
CASES: list[tuple[str, str, dict[str, Any], str, dict[str, Any], float]] = [
    ("living-ac", "set", {"power": True, "target_c": 29}, "target_reached", {"target_c": 29}, 3600),
    ("phone", "tap", {"intent": "precool", "args": {"target_c": 24}}, "intent", {"user": "alice"}, 0),
    ("tablet", "call.start", {}, "video_source_changed", {"device": "tablet", "stream": "front"}, 1),
    ("laptop", "call.start", {}, "video_source_changed", {"device": "laptop", "stream": "front"}, 1),
    ("car", "drive.start", {"destination": "home", "distance_km": 5}, "departed", {"destination": "home"}, 0),
    ("door-camera", "simulate.person", {}, "person_detected", {"known": False}, 0),
    ("door-lock", "unlock", {"method": "app", "user": "alice"}, "unlocked", {"by": "app"}, 0),
    ("speaker", "say", {"text": "Welcome home"}, "spoke", {"text": "Welcome home"}, 0),
]


STATELESS = {"tap"}  # a tap only asks; the phone itself does not change


@pytest.mark.parametrize(("device", "command", "args", "event", "fields", "wait_s"), CASES, ids=[c[0] for c in CASES])
async def test_one_command_and_one_event(
    home: Home,
    controller: Controller,
    device: str,
    command: str,
    args: dict[str, Any],
    event: str,
    fields: dict[str, Any],
    wait_s: float,
) -> None:
    recorder = Recorder()
    await controller.bus.subscribe(controller.topics.event(device, event), recorder)
    seq_before = controller.registry.devices[device].state["seq"]  # type: ignore[index]
    result = await controller.send(device, command, args)
    assert isinstance(result, dict)
    await home.clock.sleep(wait_s + 0.001)
    assert recorder.messages, f"{device} published no {event}"
    payload = recorder.messages[0].json()
    assert payload["ts"].endswith("Z")
    for key, value in fields.items():
        assert payload[key] == value
    await controller.synced()
    changed = controller.registry.devices[device].state["seq"] > seq_before  # type: ignore[index]
    assert changed is (command not in STATELESS), "state published iff the command changes state"


async def test_phone_stream_through_the_broker(home: Home, controller: Controller) -> None:
    frames = Recorder()
    await controller.bus.subscribe(controller.topics.stream("phone", "rear"), frames)
    lease = await controller.send("phone", "stream.start", {"stream": "rear", "viewer": "tablet", "fps": 5})
    assert lease["topic"] == controller.topics.stream("phone", "rear")
    await home.clock.sleep(10)
    seqs = [m.json()["seq"] for m in frames.messages]
    assert abs(len(seqs) - 50) <= 1, len(seqs)  # 5 fps for 10 simulated seconds, within one frame
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    # a second viewer shares the one sequence of frames
    second = await controller.send("phone", "stream.start", {"stream": "rear", "viewer": "laptop", "fps": 5})
    frames.messages.clear()
    await home.clock.sleep(2)
    shared = [m.json()["seq"] for m in frames.messages]
    assert shared == list(range(shared[0], shared[0] + len(shared)))
    await controller.send("phone", "stream.stop", {"lease": lease["lease"]})
    await controller.send("phone", "stream.stop", {"lease": second["lease"]})
    stopped_at = home.clock.now()
    frames.messages.clear()
    await home.clock.sleep(5)
    from hyperhome.devices.clock import parse_time

    late = [parse_time(m.json()["ts"]) for m in frames.messages]
    assert all(t <= stopped_at + 0.2 for t in late), "frames kept coming after the last lease ended"


async def test_camera_privacy_rejects_a_viewer_through_the_broker(controller: Controller) -> None:
    await controller.send("door-camera", "privacy", {"on": True})
    reply = await controller.request("door-camera", "stream.start", {"stream": "main", "viewer": "phone"})
    assert reply.error is not None
    assert reply.error.code == "rejected"
    assert "privacy" in reply.error.message
