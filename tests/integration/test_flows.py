"""Flows end to end on both brokers, in virtual time: camera handoff and the car's remote camera."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hyperhome.broker.client import BusClient, Message
from hyperhome.broker.wire import FlowStatus
from hyperhome.devices.base import DeviceSpec
from hyperhome.home.homefile import HomeFile, load_home
from hyperhome.home.runtime import Home
from hyperhome.orchestrator.controller import Controller

from .conftest import drop_link

PHONE_REAR = {"device": "phone", "stream": "rear"}
TABLET_FRONT = {"device": "tablet", "stream": "front"}


@pytest.fixture
def plan() -> HomeFile:
    home = load_home("demo")
    home.devices.append(DeviceSpec(id="bob-phone", kind="phone", owner="bob"))
    return home


def handed_off(status: FlowStatus) -> bool:
    return "max_gap_frames" in (status.result or {})


async def start_call(controller: Controller) -> None:
    await controller.send("tablet", "call.start", {"with": "colleague"})


async def handoff(controller: Controller, source: dict[str, str]) -> str:
    return await controller.start_flow("camera_handoff", {"call_device": "tablet", "source": source, "user": "alice"})


async def test_handoff_shows_the_phone_and_reports_first_frame_and_gap(home: Home, controller: Controller) -> None:
    await start_call(controller)
    flow_id = await handoff(controller, PHONE_REAR)
    status = await controller.wait_flow(flow_id, handed_off, timeout_s=10)
    assert status.state == "running"  # it supervises the call now
    assert status.result is not None, status
    result = status.result
    assert result["first_frame_s"] <= 0.1
    assert result["max_gap_frames"] <= 1.5, result
    assert result["source"] == PHONE_REAR
    assert result["previous"] == TABLET_FRONT
    steps = [s.name for s in status.steps]
    assert steps[:5] == ["lease_source", "switch_sink", "first_frame", "release_previous", "measure"]
    await home.clock.sleep(2)
    await controller.synced()
    tablet = controller.registry.devices["tablet"].state
    assert tablet is not None
    assert tablet["source"] == PHONE_REAR
    assert tablet["frames_received"] > 30
    assert not tablet["blank"]
    phone = controller.registry.devices["phone"].state
    assert phone is not None
    assert phone["streaming"] == {"rear": ["tablet"]}


async def test_switching_back_replaces_the_flow_and_releases_the_phone(home: Home, controller: Controller) -> None:
    await start_call(controller)
    first = await handoff(controller, PHONE_REAR)
    await controller.wait_flow(first, handed_off, timeout_s=10)
    back = await handoff(controller, TABLET_FRONT)
    status = await controller.wait_flow(back, timeout_s=10)
    assert status.state == "succeeded", status
    assert (status.result or {})["previous"] == PHONE_REAR
    assert (status.result or {})["max_gap_frames"] <= 1.5
    old = await controller.wait_flow(first, timeout_s=10)
    assert old.state == "succeeded"
    assert (old.result or {})["ended_because"] == "replaced"
    assert (old.result or {})["replaced_by"] == back
    await home.clock.sleep(1)
    await controller.synced()
    assert controller.registry.devices["phone"].state["streaming"] == {}  # type: ignore[index]
    assert controller.registry.devices["tablet"].state["source"] == TABLET_FRONT  # type: ignore[index]


async def fell_back_in_time(home: Home, controller: Controller, status: FlowStatus) -> None:
    assert status.state == "failed", status
    assert status.error is not None
    assert "phone went offline" in status.error
    assert "fell back to tablet/front" in status.error
    assert (status.result or {})["fallback_s"] <= 2.0
    await home.clock.sleep(1)
    await controller.synced()
    tablet = controller.registry.devices["tablet"].state
    assert tablet is not None
    assert tablet["source"] == TABLET_FRONT
    assert not tablet["blank"]


@pytest.mark.parametrize("with_faults", [True])
async def test_phone_dropping_after_the_handoff_falls_back_to_the_front_camera(
    home: Home, controller: Controller
) -> None:
    await start_call(controller)
    flow_id = await handoff(controller, PHONE_REAR)
    await controller.wait_flow(flow_id, handed_off, timeout_s=10)
    await drop_link(home, "phone")
    status = await controller.wait_flow(flow_id, timeout_s=10)
    await fell_back_in_time(home, controller, status)
    assert status.error is not None
    assert "after the handoff" in status.error


async def test_phone_stopping_mid_handoff_falls_back_to_the_front_camera(home: Home, controller: Controller) -> None:
    await start_call(controller)
    flow_id = await handoff(controller, PHONE_REAR)
    await home.devices["phone"].stop()  # whatever step the flow is at: it never got to supervise
    status = await controller.wait_flow(flow_id, timeout_s=10)
    await fell_back_in_time(home, controller, status)


async def test_cancelling_a_handoff_returns_to_the_front_camera(home: Home, controller: Controller) -> None:
    await start_call(controller)
    flow_id = await handoff(controller, PHONE_REAR)
    await controller.wait_flow(flow_id, handed_off, timeout_s=10)
    await controller.cancel_flow(flow_id)
    status = await controller.wait_flow(flow_id, timeout_s=10)
    assert status.state == "cancelled"
    assert status.error == "cancelled by request"
    await home.clock.sleep(1)
    await controller.synced()
    assert controller.registry.devices["tablet"].state["source"] == TABLET_FRONT  # type: ignore[index]
    assert controller.registry.devices["phone"].state["streaming"] == {}  # type: ignore[index]


async def test_a_refused_lease_changes_nothing_the_call_shows(home: Home, controller: Controller) -> None:
    """Make before break: a refused lease leaves the call as it was, not switched for a moment,
    and the tablet never receives the refused stream."""
    await start_call(controller)
    await controller.send("car", "lock")  # parked and locked: the car refuses its cameras
    await home.clock.sleep(0.5)
    await controller.synced()
    tablet_states: list[dict[str, Any]] = []
    await controller.bus.subscribe(home.topics.state("tablet"), lambda m: tablet_states.append(m.json()))
    flow_id = await handoff(controller, {"device": "car", "stream": "front"})
    status = await controller.wait_flow(flow_id, timeout_s=10)
    assert status.state == "failed"
    assert status.error is not None
    assert status.error.startswith("car refused stream.start: the car is parked and locked"), status.error
    assert [(s.name, s.state) for s in status.steps] == [("lease_source", "failed")]
    car_front = home.topics.stream("car", "front")
    reached: list[str] = []
    tablet_bus = home.devices["tablet"].bus
    assert isinstance(tablet_bus, BusClient)
    tablet_bus.add_tap(lambda m: reached.append(m.topic) if m.topic == car_front else None)
    await controller.send("car", "unlock")  # now someone else watches the car's front camera
    await controller.send("car", "stream.start", {"stream": "front", "viewer": "phone", "fps": 15})
    await home.clock.sleep(1)
    await controller.synced()
    assert reached == []  # the tablet never subscribed to it
    assert all(s["source"] == TABLET_FRONT for s in tablet_states)  # never switched, not for a moment
    tablet = controller.registry.devices["tablet"].state
    assert tablet is not None
    assert (tablet["source"], tablet["blank"]) == (TABLET_FRONT, False)


async def test_handoff_refusals(controller: Controller) -> None:
    no_call = await controller.request(
        "$orchestrator", "camera_handoff", {"call_device": "tablet", "source": PHONE_REAR}
    )
    assert no_call.error is not None
    assert no_call.error.code == "rejected"
    assert "not in a video call" in no_call.error.message
    bad = await controller.request("$orchestrator", "camera_handoff", {"call_device": "tablet", "source": {}})
    assert bad.error is not None
    assert bad.error.code == "invalid_args"
    assert "source.device" in bad.error.message
    stranger = await controller.request(
        "$orchestrator", "camera_handoff", {"call_device": "tablet", "source": PHONE_REAR, "user": "mallory"}
    )
    assert stranger.error is not None
    assert stranger.error.code == "forbidden"
    unknown = await controller.request("$orchestrator", "teleport", {})
    assert unknown.error is not None
    assert unknown.error.code == "unknown_command"


# -- remote camera ------------------------------------------------------------------------------------
async def test_remote_camera_runs_until_the_car_is_parked_and_locked(home: Home, controller: Controller) -> None:
    await controller.send("car", "drive.start", {"destination": "home", "distance_km": 5})
    flow_id = await controller.start_flow("remote_camera", {"viewer": "phone", "car": "car", "stream": "rear"})
    status = await controller.wait_flow(flow_id, lambda s: bool(s.result), timeout_s=5)
    assert (status.result or {})["topic"] == controller.topics.stream("car", "rear")
    await home.clock.sleep(5)
    status = controller.flows[flow_id]
    assert status.state == "running"
    await controller.send("car", "park")
    await controller.send("car", "lock")
    status = await controller.wait_flow(flow_id, timeout_s=5)
    assert status.state == "succeeded"
    assert (status.result or {})["ended_because"] == "parked_and_locked"
    await controller.synced()
    assert controller.registry.devices["car"].state["streaming"] == []  # type: ignore[index]


async def test_remote_camera_is_forbidden_to_other_peoples_devices(controller: Controller) -> None:
    for viewer in ("bob-phone", "laptop"):
        reply = await controller.request("$orchestrator", "remote_camera", {"viewer": viewer, "car": "car"})
        assert reply.error is not None
        assert reply.error.code == "forbidden", viewer


async def test_remote_camera_cancel_stops_the_lease(home: Home, controller: Controller) -> None:
    await controller.send("car", "drive.start", {"destination": "home", "distance_km": 5})
    flow_id = await controller.start_flow("remote_camera", {"viewer": "phone", "stream": "front"})
    await controller.wait_flow(flow_id, lambda s: bool(s.result), timeout_s=5)
    await controller.cancel_flow(flow_id)
    status = await controller.wait_flow(flow_id, timeout_s=5)
    assert status.state == "cancelled"
    await home.clock.sleep(1)
    await controller.synced()
    assert controller.registry.devices["car"].state["streaming"] == []  # type: ignore[index]


async def test_remote_camera_ends_when_the_viewer_goes_offline(home: Home, controller: Controller) -> None:
    await controller.send("car", "drive.start", {"destination": "home", "distance_km": 5})
    flow_id = await controller.start_flow("remote_camera", {"viewer": "phone"})
    await controller.wait_flow(flow_id, lambda s: bool(s.result), timeout_s=5)
    await home.devices["phone"].stop()
    status = await controller.wait_flow(flow_id, timeout_s=5)
    assert status.state == "succeeded"
    assert (status.result or {})["ended_because"] == "viewer_offline"


async def test_an_intent_starts_a_flow_for_the_owner(home: Home, controller: Controller) -> None:
    await controller.send("car", "drive.start", {"destination": "home", "distance_km": 5})
    await controller.send("phone", "tap", {"intent": "remote_camera", "args": {"viewer": "phone", "stream": "rear"}})
    await home.clock.sleep(0.5)
    running = [s for s in controller.flows.values() if s.kind == "remote_camera"]
    assert len(running) == 1
    assert running[0].user == "alice"
    assert running[0].state == "running"


async def test_a_device_may_only_ask_on_behalf_of_its_owner(home: Home, controller: Controller) -> None:
    refusals: list[dict[str, Any]] = []
    refused = asyncio.Event()

    def on_refused(message: Message) -> None:
        refusals.append(message.json())
        refused.set()

    await controller.bus.subscribe(controller.topics.event("$orchestrator", "intent_refused"), on_refused)
    assert home.connect is not None
    assert home.credentials is not None
    # the laptop's own connection (no owner) forges an intent in alice's name
    forger = home.devices["laptop"].bus
    assert forger is not None
    intent = {"intent": "precool", "args": {"target_c": 24, "start_now": True}, "user": "alice"}
    await forger.publish(home.topics.event("laptop", "intent"), intent)
    async with asyncio.timeout(10):  # the refusal is immediate: no simulated time needs to pass
        await refused.wait()
    assert refusals[0]["device"] == "laptop"
    assert refusals[0]["reason"] == "laptop may only ask on behalf of its owner (it has none), not 'alice'"
    assert not [s for s in controller.flows.values() if s.kind == "precool"]


async def test_flow_status_is_retained_for_a_fresh_controller(home: Home, controller: Controller) -> None:
    await start_call(controller)
    flow_id = await handoff(controller, PHONE_REAR)
    await controller.wait_flow(flow_id, handed_off, timeout_s=10)
    async with home.controller() as fresh:
        await fresh.synced()
        status = fresh.flows[flow_id]
    assert status.kind == "camera_handoff"
    assert status.state == "running"
    assert status.user == "alice"
    assert status.args["source"] == PHONE_REAR
    assert (status.result or {})["first_frame_s"] is not None
