"""The phone alone, in virtual time on the in-memory bus: battery, hotspot, geofence, notifications,
camera leases; and the radio physics it uses."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hyperhome.devices.clock import parse_time
from hyperhome.devices.components.geofence import great_circle_km, parse_coords
from hyperhome.devices.phone import Phone
from hyperhome.devices.physics import radio
from hyperhome.devices.testing import DeviceHarness

HOUR = 3600.0
GEOFENCE = ("left_home", "approaching_home", "arrived_home")
HOME_COORDS = "31.2304,121.4737"


def since(start: float, payload: dict[str, Any]) -> float:
    return parse_time(payload["ts"]) - start


def states(h: DeviceHarness[Phone]) -> list[dict[str, Any]]:
    return [m.json() for m in h.published("state")]


def geofence_trace(h: DeviceHarness[Phone]) -> list[str]:
    prefix = h.topics.device(h.device.id) + "/event/"
    return [m.topic.removeprefix(prefix) for m in h.messages if m.topic.removeprefix(prefix) in GEOFENCE]


def frames(h: DeviceHarness[Phone], stream: str = "rear") -> list[dict[str, Any]]:
    return [m.json() for m in h.published(f"stream/{stream}")]


# -- radio physics --------------------------------------------------------------------------------
def test_signal_bars_follow_androids_lte_thresholds() -> None:
    assert [radio.bars(dbm) for dbm in (-140, -116, -115, -106, -105, -96, -95, -86, -85, -44)] == [
        0, 0, 1, 1, 2, 2, 3, 3, 4, 4,
    ]  # fmt: skip
    assert radio.bars(None) == 0


def test_generated_passwords_are_long_random_wpa2_passphrases() -> None:
    passwords = {radio.generate_password() for _ in range(50)}
    assert len(passwords) == 50
    for password in passwords:
        assert len(password) >= 12
        assert set(password) <= set(radio.PASSWORD_ALPHABET)
    with pytest.raises(ValueError, match="8 to 63"):
        radio.generate_password(7)


def test_ssids_and_data_counting() -> None:
    assert radio.ssid_ok("x" * 32)
    assert not radio.ssid_ok("x" * 33)
    assert not radio.ssid_ok("")
    assert not radio.ssid_ok("手" * 11)  # 33 octets in UTF-8
    assert radio.ssid_from_name("Alice's phone") == "Alice's phone"
    assert radio.ssid_from_name("手" * 20) == "手" * 10
    assert radio.data_after(100.0, 1080.0, 1800) == pytest.approx(640.0)
    assert radio.data_after(100.0, -5.0, 1800) == 100.0


def test_coordinates_and_great_circle_distance() -> None:
    assert parse_coords("office") is None
    assert parse_coords(" 31.2304, 121.4737 ") == (31.2304, 121.4737)
    for bad in ("91,0", "0,181", "a,b"):
        with pytest.raises(ValueError, match=r"coordinates|neither"):
            parse_coords(bad)
    assert great_circle_km((0.0, 0.0), (1.0, 0.0)) == pytest.approx(111.195, abs=0.001)
    assert great_circle_km((31.2304, 121.4737), (31.2304, 121.4737)) == 0.0


# -- battery --------------------------------------------------------------------------------------
async def test_idle_drain_over_hours_is_one_percent_an_hour() -> None:
    async with DeviceHarness(Phone, state={"battery_pct": 80}) as h:
        await h.clock.sleep(3 * HOUR)
        assert h.state.battery_pct == 77.0
        await h.clock.sleep(300)  # the 5-minute refresh publishes the level
        assert states(h)[-1]["battery_pct"] == pytest.approx(80 - 3 - 300 / HOUR, abs=0.001)


async def test_hotspot_adds_twelve_percent_an_hour_and_charging_nets_the_rest() -> None:
    async with DeviceHarness(Phone, state={"battery_pct": 80}) as h:
        await h.ok("hotspot.start")
        await h.clock.sleep(2 * HOUR)
        assert h.state.battery_pct == 54.0  # 80 - 2 x (1 + 12)
        await h.ok("charge", {"on": True})
        await h.clock.sleep(HOUR / 2)
        assert h.state.battery_pct == 78.0  # 54 + (60 - 12) / 2: the hotspot still drains on the charger
    async with DeviceHarness(Phone, state={"battery_pct": 30, "charging": True}) as h:
        await h.ok("hotspot.start")
        await h.clock.sleep(HOUR)
        assert h.state.battery_pct == 78.0  # 30 + 60 - 12
        await h.ok("hotspot.stop")
        await h.clock.sleep(HOUR)
        assert h.state.battery_pct == 100.0  # 78 + 60, clamped


async def test_low_battery_fires_once_at_the_exact_crossing() -> None:
    async with DeviceHarness(Phone, state={"battery_pct": 20}) as h:
        start = h.clock.now()
        await h.ok("hotspot.start")
        await h.clock.sleep(3 * HOUR)
        (event,) = h.events("low_battery")
        assert since(start, event) == pytest.approx(5 / 13 * HOUR, abs=0.001)
        assert event["battery_pct"] == 15.0
        assert event["hotspot"] is True
        assert event["minutes_to_empty"] == round(15 / 13 * 60, 1)
        at_crossing = [s for s in states(h) if s["ts"] == event["ts"]]
        assert at_crossing
        assert at_crossing[-1]["battery_pct"] == 15.0


async def test_low_battery_moment_is_replanned_when_the_rate_changes() -> None:
    async with DeviceHarness(Phone, state={"battery_pct": 20}) as h:
        start = h.clock.now()
        await h.clock.sleep(HOUR)  # idle: 19 %, the crossing was 5 h away
        await h.ok("hotspot.start")  # now 4 % at 13 %/h
        await h.clock.sleep(HOUR / 4)
        await h.ok("hotspot.stop")  # 19 - 13/4 = 15.75 %: back to 1 %/h
        await h.clock.sleep(2 * HOUR)
        (event,) = h.events("low_battery")
        assert since(start, event) == pytest.approx(HOUR * (1 + 0.25 + 0.75), abs=0.001)
        assert event["hotspot"] is False


async def test_low_battery_rearms_only_after_charging_back_to_twenty_percent() -> None:
    async with DeviceHarness(Phone, state={"battery_pct": 16}) as h:
        await h.clock.sleep(2 * HOUR)  # 14 %: first warning
        await h.ok("charge", {"on": True})
        await h.clock.sleep(HOUR * 4 / 60)  # 18 %: below the re-arm level
        await h.ok("charge", {"on": False})
        await h.clock.sleep(4 * HOUR)  # down through 15 % again: no second warning
        assert len(h.events("low_battery")) == 1
        await h.ok("charge", {"on": True})
        await h.clock.sleep(HOUR / 6)  # 14 + 10 = 24 %: re-armed
        await h.ok("charge", {"on": False})
        await h.clock.sleep(10 * HOUR)
        assert len(h.events("low_battery")) == 2


async def test_no_low_battery_when_starting_below_the_threshold() -> None:
    async with DeviceHarness(Phone, state={"battery_pct": 12}) as h:
        await h.clock.sleep(5 * HOUR)
        assert h.events("low_battery") == []
        assert h.state.battery_pct == 7.0


# -- hotspot --------------------------------------------------------------------------------------
async def test_hotspot_password_is_in_the_reply_only() -> None:
    async with DeviceHarness(Phone, device_id="phone", owner="alice") as h:
        result = await h.ok("hotspot.start", {"ssid": "alice-phone"})
        password = result["password"]
        assert result["ssid"] == "alice-phone"
        assert len(password) >= 12
        assert h.state.hotspot.on
        assert "password" not in h.state.hotspot.model_dump()
        await h.ok("hotspot.admit", {"client": "tablet"})
        await h.ok("notify", {"title": "Hotspot on"})
        await h.clock.sleep(600)
        carrying = {m.topic for m in h.messages if password.encode() in m.payload}
        assert carrying == {h.topics.reply("phone")}
        published = states(h)[-1]
        assert published["hotspot"] == {
            "on": True,
            "ssid": "alice-phone",
            "clients": [{"id": "tablet", "used_mb": 0.0, "mb_per_h": 0.0}],
        }


async def test_hotspot_start_with_a_given_password_and_restarts() -> None:
    async with DeviceHarness(Phone, device_id="phone") as h:
        given = "correct horse battery"
        result = await h.ok("hotspot.start", {"ssid": "home-away", "password": given})
        assert result == {"ssid": "home-away", "already_on": False}  # who gave it knows it: never echoed
        again = await h.ok("hotspot.start")
        assert again == {"ssid": "home-away", "already_on": True}
        same = await h.ok("hotspot.start", {"password": given})
        assert same == {"ssid": "home-away", "already_on": True}
        reply = await h.command("hotspot.start", {"ssid": "other"})
        assert reply.error is not None
        assert reply.error.code == "rejected"
        stopped = await h.ok("hotspot.stop")
        assert stopped == {"ssid": "home-away", "dropped": [], "used_mb": {}}
        fresh = await h.ok("hotspot.start")
        assert fresh["ssid"] == "phone"
        assert fresh["password"] != given
        assert [e["ssid"] for e in h.events("hotspot_started")] == ["home-away", "phone"]
        assert (await h.ok("hotspot.start"))["password"] == fresh["password"]  # its own: shown to the owner
        device_out = [m for m in h.messages if "/cmd/" not in m.topic]
        assert not any(given.encode() in m.payload for m in device_out)


async def test_hotspot_bad_input_changes_nothing() -> None:
    async with DeviceHarness(Phone) as h:
        before = h.state.model_copy(deep=True)
        bad: list[dict[str, object]] = [
            {"password": "short"},
            {"password": "tab\tinside"},
            {"ssid": ""},
            {"ssid": "x" * 33},
        ]
        for args in bad:
            reply = await h.command("hotspot.start", args)
            assert reply.error is not None
            assert reply.error.code == "invalid_args", args
        refused: tuple[tuple[str, dict[str, object]], ...] = (
            ("hotspot.stop", {}),
            ("hotspot.admit", {"client": "tablet"}),
            ("hotspot.release", {"client": "tablet"}),
            ("simulate.traffic", {"client": "tablet", "mb": 5}),
        )
        for command, args in refused:
            reply = await h.command(command, args)
            assert reply.error is not None
            assert reply.error.code == "rejected", command
        assert h.state == before


async def test_data_a_tablet_uses_is_counted_on_the_phones_modem() -> None:
    async with DeviceHarness(Phone, device_id="phone", state={"signal_dbm": -100}) as h:
        assert h.state.bars == 2
        await h.ok("hotspot.start")
        await h.ok("hotspot.admit", {"client": "tablet"})
        await h.ok("simulate.traffic", {"client": "tablet", "mb_per_h": 1080})  # a 720p video call
        await h.clock.sleep(HOUR / 2)
        assert h.state.hotspot.clients[0].used_mb == 540.0
        assert h.state.data_used_mb == 540.0
        result = await h.ok("simulate.traffic", {"client": "tablet", "mb": 60})
        assert result == {"client": "tablet", "used_mb": 600.0, "data_used_mb": 600.0}
        await h.ok("simulate.signal", {"dbm": None})  # no service: nothing flows
        await h.clock.sleep(HOUR)
        assert h.state.data_used_mb == 600.0
        reply = await h.command("simulate.traffic", {"client": "tablet", "mb": 1})
        assert reply.error is not None
        assert reply.error.code == "rejected"
        await h.ok("simulate.signal", {"dbm": -80})
        assert h.state.bars == 4
        await h.clock.sleep(HOUR / 3)
        assert h.state.data_used_mb == 960.0
        left = await h.ok("hotspot.release", {"client": "tablet"})
        assert left == {"client": "tablet", "used_mb": 960.0}
        await h.clock.sleep(HOUR)
        assert h.state.data_used_mb == 960.0  # stays counted; nothing more flows
        assert h.events("hotspot_client_left")[-1] == {
            "ts": h.events("hotspot_client_left")[-1]["ts"], "client": "tablet", "used_mb": 960.0, "reason": "released",
        }  # fmt: skip


async def test_hotspot_clients_limit_and_own_id() -> None:
    async with DeviceHarness(Phone, device_id="phone", config={"hotspot_max_clients": 2}) as h:
        await h.ok("hotspot.start")
        for client in ("tablet", "laptop"):
            assert (await h.ok("hotspot.admit", {"client": client}))["already"] is False
        assert (await h.ok("hotspot.admit", {"client": "tablet"}))["already"] is True
        for client in ("car", "phone"):
            reply = await h.command("hotspot.admit", {"client": client})
            assert reply.error is not None
            assert reply.error.code == "rejected"
        assert [c.id for c in h.state.hotspot.clients] == ["tablet", "laptop"]
        await h.ok("hotspot.stop")
        (stopped,) = h.events("hotspot_stopped")
        assert stopped["clients"] == ["tablet", "laptop"]
        assert h.state.hotspot.clients == []


async def test_a_client_going_offline_leaves_the_hotspot() -> None:
    async with DeviceHarness(Phone, device_id="phone") as h:
        await h.ok("hotspot.start")
        await h.ok("hotspot.admit", {"client": "tablet"})
        await h.ok("simulate.traffic", {"client": "tablet", "mb_per_h": 360})
        await h.clock.sleep(600)
        await h.publish("hyperhome/test/tablet/$availability", "offline")
        (left,) = h.events("hotspot_client_left")
        assert left["client"] == "tablet"
        assert left["reason"] == "offline"
        assert left["used_mb"] == 60.0
        assert states(h)[-1]["hotspot"]["clients"] == []
        assert h.state.data_used_mb == 60.0


# -- location and geofence ------------------------------------------------------------------------
async def test_trip_office_approaching_home_leaving_in_order() -> None:
    config = {"places_km": {"office": 12.0}}
    async with DeviceHarness(Phone, state={"location": "office"}, config=config) as h:
        assert h.state.distance_home_km == 12.0  # from config places_km
        await h.ok("simulate.approach", {"distance_km": 5})
        assert geofence_trace(h) == []
        await h.ok("simulate.approach", {"distance_km": 1.5})
        await h.ok("simulate.approach", {"distance_km": 0.5})  # still inside: no second approach
        await h.ok("move", {"location": "home"})
        assert h.state.distance_home_km == 0.0
        await h.ok("move", {"location": "office"})
        assert h.state.distance_home_km == 12.0
        assert geofence_trace(h) == ["approaching_home", "arrived_home", "left_home"]
        (approach,) = h.events("approaching_home")
        assert approach["distance_km"] == 1.5
        assert approach["minutes_to_home"] is None
        assert h.events("arrived_home")[0]["from"] == "road"
        assert h.events("left_home")[0]["to"] == "office"
        assert [(e["from"], e["to"]) for e in h.events("moved")] == [
            ("office", "road"), ("road", "home"), ("home", "office"),
        ]  # fmt: skip


async def test_leaving_home_inside_the_radius_is_not_approaching() -> None:
    async with DeviceHarness(Phone) as h:
        await h.ok("simulate.approach", {"distance_km": 1})  # walked out to the corner shop
        await h.ok("simulate.approach", {"distance_km": 3})
        await h.ok("simulate.approach", {"distance_km": 1.9})  # on the way back, crossing 2 km
        assert geofence_trace(h) == ["left_home", "approaching_home"]


async def test_driving_home_at_a_speed_fires_the_geofence_at_the_exact_moments() -> None:
    async with DeviceHarness(Phone, state={"location": "office", "distance_home_km": 12}) as h:
        start = h.clock.now()
        result = await h.ok("simulate.approach", {"distance_km": 12, "speed_kmh": 30})
        assert result["minutes_to_home"] == 24.0
        await h.clock.sleep(10 * 60)
        assert h.state.distance_home_km == 7.0
        assert h.state.location == "road"
        await h.clock.sleep(HOUR)
        (approach,) = h.events("approaching_home")
        assert since(start, approach) == pytest.approx(20 * 60, abs=0.001)  # 10 km at 30 km/h
        assert approach["minutes_to_home"] == 4.0
        (arrived,) = h.events("arrived_home")
        assert since(start, arrived) == pytest.approx(24 * 60, abs=0.001)
        assert h.state.location == "home"
        assert states(h)[-1]["location"] == "home"
        assert geofence_trace(h) == ["approaching_home", "arrived_home"]


async def test_a_move_cancels_the_drive_home() -> None:
    async with DeviceHarness(Phone, state={"location": "office", "distance_home_km": 12}) as h:
        await h.ok("simulate.approach", {"distance_km": 12, "speed_kmh": 30})
        await h.clock.sleep(5 * 60)
        await h.ok("move", {"location": "gym", "distance_km": 8})
        await h.clock.sleep(HOUR)
        assert h.state.location == "gym"
        assert h.state.distance_home_km == 8.0
        assert geofence_trace(h) == []


async def test_coordinates_measure_the_distance_and_near_home_is_home() -> None:
    config = {"home_lat_lon": HOME_COORDS}
    async with DeviceHarness(Phone, config=config) as h:
        result = await h.ok("move", {"location": "31.2484,121.4737"})  # about 2 km north
        assert result["distance_home_km"] == pytest.approx(2.0015, abs=0.001)
        await h.ok("move", {"location": "31.2404,121.4737"})  # 1.1 km: inside the approach radius
        result = await h.ok("move", {"location": "31.2308,121.4737"})  # 44 m from home
        assert result == {"location": "home", "distance_home_km": 0.0}
        assert geofence_trace(h) == ["left_home", "approaching_home", "arrived_home"]


async def test_bad_moves_change_nothing() -> None:
    async with DeviceHarness(Phone) as h:
        before = h.state.model_copy(deep=True)
        for command, args in (
            ("move", {"location": "home", "distance_km": 3}),
            ("move", {"location": "12,abc"}),
            ("move", {"location": "95,10"}),
            ("move", {"location": ""}),
            ("simulate.approach", {"distance_km": 0}),
            ("simulate.approach", {"distance_km": 3, "speed_kmh": -5}),
        ):
            reply = await h.command(command, args)
            assert reply.error is not None
            assert reply.error.code == "invalid_args", (command, args)
        assert h.state == before
        assert h.events("moved") == []


# -- notifications, taps --------------------------------------------------------------------------
async def test_notifications_are_a_bounded_list_newest_last() -> None:
    async with DeviceHarness(Phone) as h:
        for i in range(25):
            await h.ok("notify", {"title": f"n{i}", "body": "text", "app": "hyperhome"})
        titles = [n["title"] for n in states(h)[-1]["notifications"]]
        assert titles == [f"n{i}" for i in range(5, 25)]
        assert len(h.events("notified")) == 25
        assert h.events("notified")[-1]["app"] == "hyperhome"
        assert (await h.ok("notifications.clear")) == {"cleared": 20}
        assert states(h)[-1]["notifications"] == []
        reply = await h.command("notify", {"body": "no title"})
        assert reply.error is not None
        assert reply.error.code == "invalid_args"


async def test_tap_and_charge_still_work() -> None:
    async with DeviceHarness(Phone, owner="alice") as h:
        assert await h.ok("tap", {"intent": "precool", "args": {"target_c": 24}}) == {"intent": "precool"}
        (intent,) = h.events("intent")
        assert intent["args"] == {"target_c": 24}
        assert intent["user"] == "alice"
        assert await h.ok("charge", {"on": True}) == {"charging": True}


# -- cameras --------------------------------------------------------------------------------------
async def test_rear_camera_frames_at_the_requested_fps_in_order_and_stop_quickly() -> None:
    async with DeviceHarness(Phone, device_id="phone") as h:
        start = h.clock.now()
        lease = await h.ok("stream.start", {"stream": "rear", "viewer": "tablet", "fps": 15})
        assert lease["topic"] == "hyperhome/test/phone/stream/rear"
        assert states(h)[-1]["streaming"] == {"rear": ["tablet"]}
        await h.clock.sleep(10)
        got = frames(h)
        assert abs(len(got) - 150) <= 1
        assert [f["seq"] for f in got] == list(range(1, len(got) + 1))
        assert {(f["width"], f["height"], f["fps"], f["source"]) for f in got} == {(1920, 1080, 15, "phone")}
        assert since(start, got[-1]) <= 10
        stop_at = h.clock.now()
        await h.ok("stream.stop", {"lease": lease["lease"]})
        await h.clock.sleep(5)
        assert parse_time(frames(h)[-1]["ts"]) <= stop_at + 1 / 15 + 0.001
        assert states(h)[-1]["streaming"] == {}
        assert frames(h, "front") == []


async def test_two_viewers_share_one_frame_sequence() -> None:
    async with DeviceHarness(Phone, device_id="phone") as h:
        tablet = await h.ok("stream.start", {"stream": "front", "viewer": "tablet", "fps": 10})
        await h.ok("stream.start", {"stream": "front", "viewer": "dashboard", "fps": 5})
        assert states(h)[-1]["streaming"] == {"front": ["dashboard", "tablet"]}
        await h.clock.sleep(10)
        got = frames(h, "front")
        assert abs(len(got) - 100) <= 1  # one source at the highest fps asked, not 10 + 5
        assert [f["seq"] for f in got] == list(range(1, len(got) + 1))
        assert {(f["width"], f["height"]) for f in got} == {(1280, 720)}
        await h.ok("stream.stop", {"lease": tablet["lease"]})
        await h.clock.sleep(10)
        later = frames(h, "front")[len(got) :]
        assert abs(len(later) - 50) <= 1
        assert later[0]["seq"] > got[-1]["seq"]
        assert {f["fps"] for f in later} == {5}


async def test_a_lease_ends_when_its_viewer_goes_offline() -> None:
    async with DeviceHarness(Phone, device_id="phone") as h:
        await h.ok("stream.start", {"stream": "rear", "viewer": "tablet", "fps": 30})
        await h.ok("stream.start", {"stream": "front", "viewer": "laptop", "fps": 30})
        await h.clock.sleep(1)
        offline_at = h.clock.now()
        await h.publish("hyperhome/test/tablet/$availability", "offline")
        assert states(h)[-1]["streaming"] == {"front": ["laptop"]}
        assert json.loads(h.published("state")[-1].payload)["ts"] == h.clock.iso(offline_at)
        await h.clock.sleep(2)
        assert parse_time(frames(h, "rear")[-1]["ts"]) <= offline_at + 1 / 30 + 0.001
        assert since(offline_at, frames(h, "front")[-1]) > 1.9  # the laptop's lease lives on
        assert h.device.active_leases()[0].viewer == "laptop"


async def test_a_keyframe_goes_out_at_once_and_the_rate_goes_on_from_it() -> None:
    async with DeviceHarness(Phone, device_id="phone") as h:
        await h.ok("stream.start", {"stream": "rear", "viewer": "tablet", "fps": 10})
        await h.clock.sleep(0.25)  # frames at 0, 0.1, 0.2; the next one is due at 0.3
        asked_at = h.clock.now()
        before = len(frames(h))
        answer = await h.ok("stream.keyframe", {"stream": "rear"})
        got = frames(h)
        assert len(got) == before + 1
        assert answer == {"stream": "rear", "seq": got[-1]["seq"]}
        assert parse_time(got[-1]["ts"]) == pytest.approx(asked_at, abs=1e-3)
        await h.clock.sleep(0.25)
        after = [parse_time(f["ts"]) - asked_at for f in frames(h)[before:]]
        assert after == pytest.approx([0.0, 0.1, 0.2], abs=1e-3)  # no extra frame, no double rate
        refused = (await h.command("stream.keyframe", {"stream": "front"})).error
        assert refused is not None
        assert refused.code == "rejected"
        assert "not streaming 'front'" in refused.message


async def test_a_burst_of_nothing_is_invalid_on_the_phone_as_on_the_tablet() -> None:
    """One TrafficArgs for both kinds: a burst is more than 0 MB (a rate of 0 stops the rate)."""
    async with DeviceHarness(Phone, device_id="phone") as h:
        await h.ok("hotspot.start")
        await h.ok("hotspot.admit", {"client": "tablet"})
        reply = await h.command("simulate.traffic", {"client": "tablet", "mb": 0})
        assert reply.error is not None
        assert reply.error.code == "invalid_args"
        assert reply.error.message.startswith("mb:")
        assert await h.ok("simulate.traffic", {"client": "tablet", "mb_per_h": 0}) == {
            "client": "tablet",
            "used_mb": 0.0,
            "data_used_mb": 0.0,
        }
