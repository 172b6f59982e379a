"""A second flow of a kind on what a running one holds, for every kind, on both brokers
(docs/flows.md, "A second flow on the same target"): refused naming the running flow, or the
running one is replaced (its result says ``ended_because: replaced`` and ``replaced_by``)."""

from __future__ import annotations

from typing import Any

import pytest

from hyperhome.broker.topics import ORCHESTRATOR
from hyperhome.devices.clock import iso
from hyperhome.errors import CommandError
from hyperhome.home.homefile import HomeFile, load_home
from hyperhome.home.runtime import Home
from hyperhome.orchestrator.controller import Controller
from tests.integration.conftest import Recorder

PHONE_REAR = {"device": "phone", "stream": "rear"}
TABLET_FRONT = {"device": "tablet", "stream": "front"}


@pytest.fixture
def plan() -> HomeFile:
    home = load_home("demo")
    home.residents.append("bob")
    return home


async def refused(controller: Controller, kind: str, args: dict[str, Any]) -> str:
    """Start a flow that must be refused ``rejected``; the message."""
    with pytest.raises(CommandError) as refusal:
        await controller.start_flow(kind, args)
    assert refusal.value.code == "rejected", refusal.value
    return refusal.value.message


def state(controller: Controller, device: str) -> dict[str, Any]:
    view = controller.registry.devices[device]
    assert view.state is not None
    return view.state


def running(controller: Controller, kind: str) -> list[str]:
    """Flows of ``kind`` that have not ended (pending or running)."""
    return [s.id for s in controller.flows.values() if s.kind == kind and s.state in ("pending", "running")]


# -- camera_handoff: the call device -------------------------------------------------------------
async def test_camera_handoff_refuses_while_one_switches_the_call_and_replaces_one_that_supervises(
    home: Home, controller: Controller
) -> None:
    await controller.send("tablet", "call.start", {"with": "colleague"})
    handoff = {"call_device": "tablet", "source": PHONE_REAR, "user": "alice"}
    first = await controller.start_flow("camera_handoff", handoff)
    message = await refused(controller, "camera_handoff", {**handoff, "source": TABLET_FRONT})
    assert message == (
        f"camera_handoff {first} is still switching the call on tablet to phone/rear: wait until it shows, or cancel it"
    )
    await controller.wait_flow(first, lambda s: "max_gap_frames" in (s.result or {}), timeout_s=10)
    again = await refused(controller, "camera_handoff", handoff)
    assert again == f"the call on tablet already shows phone/rear (camera_handoff {first})"

    back = await controller.start_flow("camera_handoff", {**handoff, "source": TABLET_FRONT})
    old = await controller.wait_flow(first, timeout_s=10)
    assert old.state == "succeeded"
    assert ((old.result or {})["ended_because"], (old.result or {})["replaced_by"]) == ("replaced", back)
    assert (await controller.wait_flow(back, timeout_s=10)).state == "succeeded"


# -- precool: the AC ---------------------------------------------------------------------------------
async def test_precool_the_same_plan_from_the_dashboard_and_a_phone_tap_runs_one_flow(
    home: Home, controller: Controller, recorder: Recorder
) -> None:
    await controller.send("car", "drive.start", {"destination": "home", "distance_km": 60})
    first = await controller.start_flow("precool", {"ac": "living-ac", "target_c": 24, "car": "car", "user": "alice"})
    await controller.send("phone", "tap", {"intent": "precool", "args": {"target_c": 24}})  # her own car, on a trip
    await home.clock.sleep(1)
    (refusal,) = recorder.json_on(f"{ORCHESTRATOR}/event/intent_refused")
    expected = f"precool {first} already pre-cools living-ac to 24 °C for car's arrival"
    assert (refusal["device"], refusal["intent"], refusal["reason"]) == ("phone", "precool", expected)
    assert await refused(controller, "precool", {"target_c": 24, "car": "car", "user": "alice"}) == expected
    assert running(controller, "precool") == [first]


async def test_precool_a_new_plan_of_the_same_user_replaces_the_running_one_and_keeps_the_ac_on(
    home: Home, controller: Controller
) -> None:
    first = await controller.start_flow("precool", {"target_c": 24, "start_now": True, "user": "alice"})
    await home.clock.sleep(60)
    await controller.synced()
    assert state(controller, "living-ac")["power"] is True
    arrive = iso(home.clock.now() + 3600)
    replan = await controller.start_flow("precool", {"target_c": 23, "arrive_at": arrive, "user": "alice"})
    old = await controller.wait_flow(first, timeout_s=10)
    assert (old.state, old.error) == ("cancelled", f"replaced by {replan}")
    assert ((old.result or {})["ended_because"], (old.result or {})["replaced_by"]) == ("replaced", replan)
    await home.clock.sleep(1)
    await controller.synced()
    assert state(controller, "living-ac")["power"] is True  # handed over, not switched off
    assert running(controller, "precool") == [replan]
    await controller.cancel_flow(replan)  # the AC is the new flow's now: its end switches it off
    await controller.wait_flow(replan, timeout_s=10)
    await home.clock.sleep(1)
    await controller.synced()
    assert state(controller, "living-ac")["power"] is False


async def test_precool_another_users_plan_for_the_same_ac_is_refused_and_another_ac_is_free(
    home: Home, controller: Controller
) -> None:
    arrive = iso(home.clock.now() + 2 * 3600)
    first = await controller.start_flow("precool", {"ac": "living-ac", "arrive_at": arrive, "user": "alice"})
    later = iso(home.clock.now() + 3 * 3600)
    message = await refused(controller, "precool", {"ac": "living-ac", "arrive_at": later, "user": "bob"})
    assert message == (
        f"precool {first} pre-cools living-ac for alice's arrival; "
        f"cancel it first (flow.cancel {first}) to plan another"
    )
    same = await refused(controller, "precool", {"ac": "living-ac", "arrive_at": arrive, "user": "bob"})
    assert same == f"precool {first} already pre-cools living-ac to 24 °C for an arrival at {arrive}"
    bedroom = await controller.start_flow("precool", {"ac": "bedroom-ac", "arrive_at": later, "user": "bob"})
    assert running(controller, "precool") == [first, bedroom]


# -- remote_camera: the viewer's picture of the car ------------------------------------------------------
async def test_remote_camera_the_same_camera_is_refused_another_one_replaces_it(
    home: Home, controller: Controller
) -> None:
    front = {"viewer": "phone", "car": "car", "stream": "front", "user": "alice"}
    first = await controller.start_flow("remote_camera", front)
    await controller.wait_flow(first, lambda s: bool(s.result), timeout_s=10)
    assert await refused(controller, "remote_camera", front) == f"phone already shows car/front (remote_camera {first})"
    rear = await controller.start_flow("remote_camera", {**front, "stream": "rear"})
    old = await controller.wait_flow(first, timeout_s=10)
    assert old.state == "succeeded"
    assert ((old.result or {})["ended_because"], (old.result or {})["replaced_by"]) == ("replaced", rear)
    await home.clock.sleep(1)
    await controller.synced()
    assert state(controller, "car")["streaming"] == ["rear"]
    assert running(controller, "remote_camera") == [rear]


# -- network_share: the tablet -------------------------------------------------------------------------
async def test_network_share_a_second_share_of_the_tablet_is_refused_naming_the_running_one(
    home: Home, controller: Controller
) -> None:
    await controller.send("tablet", "simulate.wifi", {"ssid": "cafe-guest", "link": "up"})  # it asks by itself
    await home.clock.sleep(1)
    (first,) = running(controller, "network_share")
    await controller.wait_flow(first, lambda s: any(step.name == "share" for step in s.steps), timeout_s=10)
    message = await refused(controller, "network_share", {"tablet": "tablet", "user": "alice"})
    assert message == f"tablet already shares phone's connection (network_share {first})"
    assert running(controller, "network_share") == [first]
