"""precool on both brokers: planned from the AC's own model, re-planned on ETA changes."""

from __future__ import annotations

from hyperhome.broker.wire import FlowStatus
from hyperhome.devices.clock import iso, parse_time
from hyperhome.home.runtime import Home
from hyperhome.orchestrator.controller import Controller


async def _drive_home(controller: Controller, km: float = 60) -> float:
    trip = await controller.send("car", "drive.start", {"destination": "home", "distance_km": km})
    return parse_time(trip["eta"])


def _ac_on_at(status: FlowStatus) -> float:
    return parse_time((status.result or {})["started_at"])


async def test_precool_with_the_car_reaches_target_at_arrival_and_not_before(
    home: Home, controller: Controller
) -> None:
    eta = await _drive_home(controller)
    flow_id = await controller.start_flow("precool", {"ac": "living-ac", "target_c": 24, "car": "car", "user": "alice"})
    status = await controller.wait_flow(flow_id, timeout_s=3 * 3600)
    assert status.state == "succeeded", status.error
    assert abs((status.result or {})["room_temp_c_at_arrival"] - 24) <= 0.5
    assert (status.result or {})["arrival"] == iso(eta)
    # it ran no longer than needed: started about an hour before arrival, not at once
    assert 50 * 60 < eta - _ac_on_at(status) < 70 * 60
    assert [s.name for s in status.steps] == ["plan", "start_ac", "await_arrival"]


async def test_eta_shrinking_mid_trip_replans_and_still_lands_on_target(home: Home, controller: Controller) -> None:
    await _drive_home(controller, km=100)  # 2 h 13 min at 45 km/h: the AC needs about an hour
    flow_id = await controller.start_flow("precool", {"target_c": 24, "car": "car", "user": "alice"})
    await home.clock.sleep(600)
    first = (controller.flows[flow_id].result or {})["planned_start"]
    rerouted = await controller.send("car", "drive.reroute", {"distance_km": 70})  # now 93 min to go
    status = await controller.wait_flow(flow_id, timeout_s=3 * 3600)
    assert status.state == "succeeded", status.error
    plans = [s for s in status.steps if s.name == "plan"]
    assert len(plans) == 2, "a new ETA must re-plan"
    assert parse_time((status.result or {})["planned_start"]) < parse_time(first)
    assert (status.result or {})["arrival"] == rerouted["eta"]
    assert abs((status.result or {})["room_temp_c_at_arrival"] - 24) <= 0.5


async def test_too_short_a_trip_starts_at_once_and_says_the_room_was_not_cool(
    home: Home, controller: Controller
) -> None:
    eta = await _drive_home(controller, km=30)  # 40 minutes: less than the hour the AC needs
    flow_id = await controller.start_flow("precool", {"target_c": 24, "car": "car", "user": "alice"})
    status = await controller.wait_flow(flow_id, timeout_s=3 * 3600)
    assert status.state == "failed"
    assert status.error is not None
    assert "not within 0.5" in status.error
    assert _ac_on_at(status) == parse_time(status.started or "")  # started at once, no later
    assert (status.result or {})["room_temp_c_at_arrival"] > 24.5
    assert (status.result or {})["arrival"] == iso(eta)


async def test_cancelled_trip_stops_the_plan_and_leaves_the_ac_off(home: Home, controller: Controller) -> None:
    await _drive_home(controller)
    flow_id = await controller.start_flow("precool", {"target_c": 24, "car": "car", "user": "alice"})
    await home.clock.sleep(300)
    await controller.send("car", "drive.cancel")
    status = await controller.wait_flow(flow_id, timeout_s=600)
    assert status.state == "failed"
    assert status.error is not None
    assert "cancelled" in status.error
    await controller.synced()
    assert controller.registry.devices["living-ac"].state["power"] is False  # type: ignore[index]


async def test_only_residents_may_precool(controller: Controller) -> None:
    arrive = iso(parse_time("2026-07-01T19:00:00Z"))
    bob = await controller.request("$orchestrator", "precool", {"target_c": 24, "arrive_at": arrive, "user": "bob"})
    assert bob.error is not None
    assert bob.error.code == "forbidden"
    nobody = await controller.request("$orchestrator", "precool", {"target_c": 24, "arrive_at": arrive})
    assert nobody.error is not None
    assert nobody.error.code == "forbidden"
    both = await controller.request(
        "$orchestrator", "precool", {"target_c": 24, "arrive_at": arrive, "start_now": True, "user": "alice"}
    )
    assert both.error is not None
    assert both.error.code == "invalid_args"


async def test_precool_for_a_fixed_arrival_time(home: Home, controller: Controller) -> None:
    arrive = home.clock.now() + 2 * 3600
    flow_id = await controller.start_flow("precool", {"target_c": 25, "arrive_at": iso(arrive), "user": "alice"})
    status = await controller.wait_flow(flow_id, timeout_s=3 * 3600)
    assert status.state == "succeeded", status.error
    assert abs((status.result or {})["room_temp_c_at_arrival"] - 25) <= 0.5
    assert home.clock.now() - arrive < 1


async def test_a_tap_on_the_phone_while_driving_home_precools(home: Home, controller: Controller) -> None:
    await _drive_home(controller, km=70)
    await controller.send("phone", "tap", {"intent": "precool", "args": {"target_c": 24}})
    await home.clock.sleep(1)
    (flow,) = [s for s in controller.flows.values() if s.kind == "precool"]
    assert flow.user == "alice"
    status = await controller.wait_flow(flow.id, timeout_s=3 * 3600)
    assert status.state == "succeeded", status.error
