"""The air conditioner alone, in virtual time on the in-memory bus."""

from __future__ import annotations

import pytest

from hyperhome.devices.air_conditioner import AirConditioner
from hyperhome.devices.clock import iso, parse_time
from hyperhome.devices.physics import thermal
from hyperhome.devices.testing import DeviceHarness

MODEL = thermal.RoomModel()


async def test_pull_down_curve_and_target_reached_at_the_predicted_moment() -> None:
    async with DeviceHarness(AirConditioner, state={"room_temp_c": 31, "outdoor_temp_c": 35}) as ac:
        start = ac.clock.now()
        result = await ac.ok("set", {"power": True, "target_c": 24})
        eta = thermal.time_to_target_s(31, 35, thermal.Hvac("cool", MODEL.cooling_capacity_w, 24), MODEL)
        assert eta is not None
        assert result["minutes_to_target"] == round(eta / 60, 1)
        curve = []
        for _ in range(6):
            await ac.clock.sleep(600)
            curve.append(ac.state.room_temp_c)
        assert curve == sorted(curve, reverse=True)
        for i, value in enumerate(curve[:5]):
            expected = thermal.step(
                31, 35, thermal.Hvac("cool", MODEL.cooling_capacity_w, 24, True), MODEL, 600 * (i + 1)
            )
            assert value == round(expected.room_c, 1)  # the sensor reports 0.1 °C steps
        await ac.clock.sleep(1800)
        (event,) = ac.events("target_reached")
        assert parse_time(event["ts"]) - start == pytest.approx(eta, abs=0.002)
        assert ac.state.room_temp_c == 24.0
        assert ac.state.minutes_to_target == 0.0


async def test_estimate_changes_nothing() -> None:
    async with DeviceHarness(AirConditioner, state={"room_temp_c": 31, "outdoor_temp_c": 35}) as ac:
        states_before = len(ac.published("state"))
        result = await ac.ok("estimate", {"target_c": 24})
        assert 50 < result["minutes"] < 70
        assert ac.state.power is False
        assert len(ac.published("state")) == states_before


async def test_off_room_drifts_towards_outdoor_and_uses_no_energy() -> None:
    async with DeviceHarness(AirConditioner, state={"room_temp_c": 24, "outdoor_temp_c": 35}) as ac:
        await ac.clock.sleep(4 * 3600)
        assert 24 < ac.state.room_temp_c < 35
        assert ac.state.energy_kwh == 0.0
        assert ac.events("target_reached") == []


async def test_changing_target_mid_pull_down_reschedules_the_event() -> None:
    async with DeviceHarness(AirConditioner, state={"room_temp_c": 31, "outdoor_temp_c": 35}) as ac:
        await ac.ok("set", {"power": True, "target_c": 24})
        await ac.clock.sleep(600)
        await ac.ok("set", {"target_c": 28})
        await ac.clock.sleep(3 * 3600)
        events = ac.events("target_reached")
        assert [e["target_c"] for e in events] == [28]
        assert ac.state.room_temp_c == 28.0


async def test_bad_args_leave_state_alone() -> None:
    async with DeviceHarness(AirConditioner) as ac:
        before = ac.state.model_copy()
        for args in ({"target_c": 12}, {"mode": "turbo"}, {}, {"power": "yes please"}):
            reply = await ac.command("set", args)
            assert not reply.ok
            assert reply.error is not None
            assert reply.error.code == "invalid_args"
        assert ac.state == before


async def test_estimate_at_a_later_start_accounts_for_the_drift() -> None:
    async with DeviceHarness(AirConditioner, state={"room_temp_c": 28, "outdoor_temp_c": 35}) as ac:
        now = await ac.ok("estimate", {"target_c": 24})
        later_at = iso(ac.clock.now() + 3600)
        later = await ac.ok("estimate", {"target_c": 24, "at": later_at})
        drifted = thermal.step(28, 35, thermal.Hvac("off"), MODEL, 3600).room_c
        assert later["room_temp_c"] == round(drifted, 1)
        assert later["minutes"] > now["minutes"]
        await ac.clock.sleep(3600)
        actual = await ac.ok("estimate", {"target_c": 24})
        assert actual["minutes"] == pytest.approx(later["minutes"], abs=0.01)
        past = await ac.command("estimate", {"target_c": 24, "at": iso(ac.clock.now() - 60)})
        assert past.error is not None
        assert past.error.code == "rejected", "well-formed args: a time in the past is refused now, not malformed"
