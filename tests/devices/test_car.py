"""The car alone, in virtual time on the in-memory bus: trips and ETAs, energy, cameras, cabin."""

from __future__ import annotations

from typing import Any

import pytest

from hyperhome.broker.wire import Reply
from hyperhome.devices.car import Car
from hyperhome.devices.clock import iso, parse_time
from hyperhome.devices.physics import thermal
from hyperhome.devices.testing import DeviceHarness

CABIN = thermal.RoomModel(65.0, 8.0e4, 5000.0, 5000.0, 2.5, 2.0, 150.0)
KWH_PER_KM = 0.15


def car(state: dict[str, Any] | None = None) -> DeviceHarness[Car]:
    return DeviceHarness(Car, device_id="su7", owner="alice", state=state)


def error_code(reply: Reply) -> str:
    assert not reply.ok
    assert reply.error is not None
    return reply.error.code


def states_by_minute(h: DeviceHarness[Car], start: float) -> dict[int, dict[str, object]]:
    """The last published state at each whole minute after ``start``."""
    found: dict[int, dict[str, object]] = {}
    for message in h.published("state"):
        body = message.json()
        offset = parse_time(body["ts"]) - start
        if offset >= 0 and offset % 60 == 0:
            found[int(offset // 60)] = body
    return found


async def test_twenty_km_mixed_trip_eta_position_each_minute_and_arrival_at_the_eta() -> None:
    async with car() as h:
        start = h.clock.now()
        result = await h.ok("drive.start", {"destination": "office", "distance_km": 20, "profile": "mixed"})
        eta = start + 20 / 45 * 3600  # 26 min 40 s
        assert result["eta"] == iso(eta)
        (departed,) = h.events("departed")
        assert departed["destination"] == "office"
        assert departed["distance_km"] == 20
        assert departed["eta"] == iso(eta)
        assert h.state.gear == "drive"
        assert h.state.speed_kmh == 45.0
        assert h.state.location == "road"

        for _ in range(26):
            await h.clock.sleep(60)
            assert h.events("arrived") == []
        by_minute = states_by_minute(h, start)
        for minute in range(1, 27):
            state = by_minute[minute]
            assert state["driven_km"] == pytest.approx(0.75 * minute)
            assert state["remaining_km"] == pytest.approx(20 - 0.75 * minute)
            assert state["speed_kmh"] == 45.0
            assert state["eta"] == iso(eta)
            assert state["minutes_to_arrival"] == pytest.approx(round((eta - start) / 60 - minute, 1))

        await h.clock.sleep(60)
        (arrived,) = h.events("arrived")
        assert parse_time(arrived["ts"]) == eta
        assert arrived["destination"] == "office"
        assert arrived["minutes"] == pytest.approx(26.7)
        assert h.state.gear == "park"
        assert h.state.location == "office"
        assert h.state.speed_kmh == 0.0
        assert h.state.eta is None
        assert h.state.odometer_km == 20.0
        final = h.published("state")[-1].json()
        assert (final["gear"], final["location"]) == ("park", "office")


async def test_traffic_slows_the_car_moves_the_eta_and_the_arrival() -> None:
    async with car() as h:
        start = h.clock.now()
        await h.ok("drive.start", {"destination": "office", "distance_km": 20, "profile": "mixed"})
        old_eta = start + 1600
        await h.clock.sleep(600)  # 7.5 km driven, 12.5 km to go
        result = await h.ok("simulate.traffic", {"factor": 0.5})
        new_eta = start + 600 + 12.5 / 22.5 * 3600  # 2000 s more at 22.5 km/h
        assert result["eta"] == iso(new_eta)
        (changed,) = h.events("eta_changed")
        assert changed == {"ts": iso(start + 600), "eta": iso(new_eta), "previous": iso(old_eta), "reason": "traffic"}
        assert h.state.speed_kmh == 22.5
        assert h.state.traffic_factor == 0.5

        await h.clock.sleep_until(old_eta + 80)  # a whole minute: the state is published each minute
        assert h.events("arrived") == []
        assert h.state.driven_km == pytest.approx(7.5 + 22.5 * (1000 + 80) / 3600, abs=1e-3)
        await h.clock.sleep_until(new_eta + 1)
        (arrived,) = h.events("arrived")
        assert parse_time(arrived["ts"]) == pytest.approx(new_eta, abs=1e-3)
        assert h.state.odometer_km == pytest.approx(20.0)


async def test_eta_moving_less_than_a_minute_updates_state_without_an_event() -> None:
    async with car() as h:
        start = h.clock.now()
        await h.ok("drive.start", {"destination": "office", "distance_km": 20})
        await h.clock.sleep(600)
        await h.ok("simulate.traffic", {"factor": 1.02})  # 12.5 km at 45.9 km/h: 19.6 s earlier
        assert h.events("eta_changed") == []
        new_eta = start + 600 + 12.5 / 45.9 * 3600
        assert parse_time(h.state.eta) == pytest.approx(new_eta, abs=1e-3)
        await h.ok("simulate.traffic", {"factor": 1.1})  # now 1 min 37 s before the announced ETA
        (changed,) = h.events("eta_changed")
        assert changed["previous"] == iso(start + 1600)


async def test_reroute_changes_route_destination_and_arrival() -> None:
    async with car() as h:
        start = h.clock.now()
        await h.ok("drive.start", {"destination": "office", "distance_km": 20, "profile": "highway"})
        await h.clock.sleep(300)  # 7.5 km at 90 km/h
        await h.ok("drive.reroute", {"distance_km": 30, "destination": "airport"})
        new_eta = start + 300 + 30 / 90 * 3600
        (changed,) = h.events("eta_changed")
        assert (changed["eta"], changed["reason"]) == (iso(new_eta), "reroute")
        assert h.state.trip_km == pytest.approx(37.5)
        await h.clock.sleep_until(new_eta + 1)
        (arrived,) = h.events("arrived")
        assert arrived["destination"] == "airport"
        assert parse_time(arrived["ts"]) == pytest.approx(new_eta, abs=1e-3)
        assert h.state.location == "airport"


async def test_cancel_stops_the_trip_and_no_arrival_follows() -> None:
    async with car() as h:
        start = h.clock.now()
        await h.ok("drive.start", {"destination": "office", "distance_km": 20})
        await h.clock.sleep(600)
        await h.ok("drive.cancel")
        (cancelled,) = h.events("trip_cancelled")
        assert cancelled["driven_km"] == pytest.approx(7.5)
        assert cancelled["remaining_km"] == pytest.approx(12.5)
        assert cancelled["reason"] == "cancelled"
        assert (h.state.gear, h.state.speed_kmh, h.state.location) == ("park", 0.0, "road")
        battery = h.state.battery_kwh
        await h.clock.sleep_until(start + 3600)
        assert h.events("arrived") == []
        assert h.state.odometer_km == pytest.approx(7.5)
        assert h.state.battery_kwh == battery, "a parked car with climate off uses nothing"


async def test_park_during_a_trip_ends_it_where_the_car_is() -> None:
    async with car() as h:
        await h.ok("drive.start", {"destination": "office", "distance_km": 20})
        await h.clock.sleep(120)
        await h.ok("park")
        assert [e["reason"] for e in h.events("trip_cancelled")] == ["parked"]
        await h.clock.sleep(3600)
        assert h.events("arrived") == []


async def test_battery_and_range_fall_by_the_documented_consumption_per_km() -> None:
    async with car(state={"battery_kwh": 60.0}) as h:
        assert h.state.range_km == pytest.approx(60 / KWH_PER_KM, abs=0.05)
        assert h.state.battery_pct == pytest.approx(100 * 60 / 73.6, abs=0.05)
        await h.ok("drive.start", {"destination": "office", "distance_km": 20, "profile": "city"})
        await h.clock.sleep(600)  # 5 km at 30 km/h
        assert h.state.battery_kwh == pytest.approx(60 - 5 * KWH_PER_KM, abs=1e-3)
        await h.clock.sleep(1800 + 1)
        assert h.events("arrived")
        assert h.state.battery_kwh == pytest.approx(60 - 20 * KWH_PER_KM, abs=1e-3)
        assert h.state.range_km == pytest.approx(60 / KWH_PER_KM - 20, abs=0.05)
        assert h.state.climate_kwh == 0.0


async def _hour_observed_every(step_s: float) -> tuple[float, float, float]:
    async with car() as h:
        end = h.clock.now() + 3600
        await h.ok("climate.set", {"power": True, "target_c": 22})
        await h.ok("drive.start", {"destination": "office", "distance_km": 30})
        await h.ok("simulate.traffic", {"factor": 0.7})
        while h.clock.now() < end:
            await h.clock.sleep(min(step_s, end - h.clock.now()))
            await h.ok("display.show", {"text": "a command makes the car advance its physics"})
        return h.state.battery_kwh, h.state.odometer_km, h.state.cabin_temp_c


async def test_energy_and_position_do_not_depend_on_how_often_the_car_is_asked() -> None:
    assert await _hour_observed_every(13) == pytest.approx(await _hour_observed_every(3600), abs=2e-3)


async def test_cabin_climate_cools_the_cabin_and_draws_from_the_battery() -> None:
    async with car(state={"cabin_temp_c": 35, "outdoor_temp_c": 35}) as h:
        battery = h.state.battery_kwh
        await h.ok("climate.set", {"power": True, "target_c": 24})
        await h.clock.sleep(3600)
        expected = thermal.step(35.0, 35.0, thermal.Hvac("cool", 5000.0, 24.0, True), CABIN, 3600)
        assert h.state.cabin_temp_c == pytest.approx(24.0)
        assert h.state.climate_kwh == pytest.approx(expected.energy_kwh, abs=1e-3)
        assert 0.4 < h.state.climate_kwh < 0.6
        assert h.state.battery_kwh == pytest.approx(battery - expected.energy_kwh, abs=2e-3)
        assert h.state.odometer_km == 0.0


async def test_zone_targets_are_kept_and_the_cabin_goes_to_their_mean() -> None:
    async with car(state={"cabin_temp_c": 30, "outdoor_temp_c": 30}) as h:
        await h.ok("climate.set", {"power": True, "target_c": 22})
        await h.ok("climate.set", {"target_c": 27, "zone": "rear_right"})
        targets = h.state.zone_targets_c
        assert targets["rear_right"] == 27
        assert [targets[z] for z in ("driver", "front_passenger", "rear_left", "rear_center")] == [22] * 4
        await h.clock.sleep(3600)
        assert h.state.cabin_temp_c == pytest.approx((4 * 22 + 27) / 5)


async def test_streams_end_when_parked_and_locked_but_not_when_only_parked() -> None:
    async with car() as h:
        lease = await h.ok("stream.start", {"stream": "front", "viewer": "tablet", "fps": 1})
        assert lease["topic"].endswith("/su7/stream/front")
        await h.clock.sleep(10)
        frames = len(h.published("stream/front"))
        assert frames >= 10, "parked and unlocked: the camera streams"
        assert h.state.streaming == ["front"]

        result = await h.ok("lock")
        assert result["streams_ended"] == 1
        assert h.state.streaming == []
        ended_at = len(h.published("stream/front"))
        await h.clock.sleep(10)
        assert len(h.published("stream/front")) == ended_at
        assert error_code(await h.command("stream.start", {"stream": "rear", "viewer": "tablet"})) == "rejected"

        await h.ok("unlock")
        await h.ok("stream.start", {"stream": "rear", "viewer": "tablet", "fps": 1})
        await h.clock.sleep(5)
        assert len(h.published("stream/rear")) >= 5


async def test_locked_while_driving_streams_until_arrival_parks_the_car() -> None:
    async with car() as h:
        await h.ok("drive.start", {"destination": "home", "distance_km": 1.5, "profile": "city"})  # 3 min
        await h.ok("stream.start", {"stream": "cabin", "viewer": "phone", "fps": 1})
        assert (await h.ok("lock"))["streams_ended"] == 0, "locked while driving: not parked"
        await h.ok("stream.start", {"stream": "front", "viewer": "phone", "fps": 1})
        await h.clock.sleep(60)
        assert len(h.published("stream/cabin")) >= 60
        assert h.state.streaming == ["cabin", "front"]
        await h.clock.sleep(121)
        assert h.events("arrived")
        after_arrival = len(h.published("stream/cabin"))
        await h.clock.sleep(30)
        assert len(h.published("stream/cabin")) == after_arrival
        assert h.state.streaming == []


async def test_hear_publishes_an_utterance_with_the_zone() -> None:
    async with car() as h:
        await h.ok("hear", {"zone": "rear_left", "text": "打开空调", "level_db": 62})
        (utterance,) = h.events("utterance")
        assert (utterance["zone"], utterance["text"], utterance["level_db"]) == ("rear_left", "打开空调", 62)


async def test_display_keeps_the_message_and_a_short_history() -> None:
    async with car() as h:
        for i in range(7):
            await h.ok("display.show", {"text": f"message {i}", "level": "warning" if i == 6 else "info"})
        assert h.state.display is not None
        assert (h.state.display.text, h.state.display.level) == ("message 6", "warning")
        assert [m.text for m in h.state.display_history] == [f"message {i}" for i in range(2, 7)]
        assert [e["text"] for e in h.events("displayed")] == [f"message {i}" for i in range(7)]


async def test_internet_flag_and_owner_in_meta() -> None:
    async with car() as h:
        assert h.state.internet is True
        await h.ok("simulate.internet", {"online": False})
        assert h.published("state")[-1].json()["internet"] is False
        meta = h.published("$meta")[-1].json()
        assert (meta["kind"], meta["owner"]) == ("car", "alice")
        assert meta["streams"] == ["front", "rear", "cabin"]


@pytest.mark.parametrize(
    ("command", "args", "code"),
    [
        ("hear", {"zone": "trunk", "text": "hello"}, "invalid_args"),
        ("climate.set", {"target_c": 22, "zone": "sunroof"}, "invalid_args"),
        ("climate.set", {"zone": "driver"}, "invalid_args"),
        ("drive.start", {"destination": "office", "distance_km": -5}, "invalid_args"),
        ("drive.start", {"destination": "office", "distance_km": 0}, "invalid_args"),
        ("drive.start", {"destination": "office", "distance_km": 10, "profile": "racetrack"}, "invalid_args"),
        ("drive.start", {"destination": "moon", "distance_km": 1500}, "rejected"),
        ("drive.cancel", {}, "rejected"),
        ("drive.reroute", {"distance_km": 5}, "rejected"),
        ("simulate.traffic", {"factor": 0.5}, "rejected"),
        ("simulate.traffic", {"factor": 0}, "invalid_args"),
    ],
)
async def test_bad_input_is_refused_and_changes_nothing(command: str, args: dict[str, object], code: str) -> None:
    async with car() as h:
        before, published = h.state.model_copy(deep=True), len(h.published("state"))
        assert error_code(await h.command(command, args)) == code
        assert h.state == before
        assert len(h.published("state")) == published


async def test_drive_start_while_driving_is_rejected_and_the_trip_goes_on() -> None:
    async with car() as h:
        start = h.clock.now()
        await h.ok("drive.start", {"destination": "office", "distance_km": 20})
        await h.clock.sleep(60)
        before = h.state.model_copy(deep=True)
        reply = await h.command("drive.start", {"destination": "gym", "distance_km": 5})
        assert error_code(reply) == "rejected"
        assert h.state == before
        assert len(h.events("departed")) == 1
        await h.clock.sleep_until(start + 1601)
        assert [e["destination"] for e in h.events("arrived")] == ["office"]
