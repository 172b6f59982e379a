"""The components of device kinds as units: each rule on its own, without a device or a bus."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hyperhome.broker.wire import Frame
from hyperhome.devices.components import cabin, display, notifications, uplink
from hyperhome.devices.components.battery import Battery
from hyperhome.devices.components.geofence import HOME, MoveArgs, destination
from hyperhome.devices.components.hotspot import ClientTrafficArgs, Hotspot, HotspotStartArgs, HotspotState
from hyperhome.devices.components.navigation import DriveStartArgs, Navigation
from hyperhome.devices.components.video import BLANK_AFTER_FRAME_INTERVALS, FrameWatch, VideoSource
from hyperhome.devices.physics import thermal
from hyperhome.errors import CommandError


def test_battery_alarm_fires_once_and_rearms_only_after_the_bump() -> None:
    b = Battery.at(16.0, low_pct=15.0, rearm_bump_pct=5.0)
    assert b.seconds_to_low(-1.0) == pytest.approx(3600.0)  # 1 % at 1 %/h
    assert b.seconds_to_low(60.0) is None  # charging: never crosses downward
    b.advance(-1.0, 3600.0)
    b.fire()
    assert b.seconds_to_low(-1.0) is None
    b.advance(60.0, 60.0 * 4.9)  # +4.9 %: not yet back at 20 %
    assert not b.armed
    b.advance(60.0, 60.0 * 0.2)
    assert b.armed
    assert b.minutes_to_empty(-12.0) == pytest.approx(round(b.pct / 12.0 * 60.0, 1))


def test_hotspot_password_is_in_the_reply_only_when_the_phone_made_it() -> None:
    made = Hotspot.of(0.0, HotspotState())
    started = made.start(HotspotState(), HotspotStartArgs(), default_ssid="pho")
    assert started is not None
    assert made.started_reply(started, already_on=False)["password"] == made.password
    given = Hotspot.of(0.0, HotspotState())
    on = given.start(HotspotState(), HotspotStartArgs(password="correct horse"), default_ssid="pho")
    assert on is not None
    assert "password" not in given.started_reply(on, already_on=False)
    with pytest.raises(CommandError, match="already on"):
        given.start(on, HotspotStartArgs(password="another one"), default_ssid="pho")
    assert given.start(on, HotspotStartArgs(password="correct horse"), default_ssid="pho") is None


def test_hotspot_counts_clients_and_refuses_what_it_cannot_do() -> None:
    h = Hotspot.of(0.0, HotspotState())
    state = h.start(HotspotState(), HotspotStartArgs(), default_ssid="pho")
    assert state is not None
    with pytest.raises(CommandError, match="own hotspot"):
        h.admit(state, "pho", host="pho", max_clients=2)
    assert h.admit(state, "tab", host="pho", max_clients=1) is True
    assert h.admit(state, "tab", host="pho", max_clients=1) is False
    with pytest.raises(CommandError, match="full"):
        h.admit(state, "lap", host="pho", max_clients=1)
    with pytest.raises(CommandError, match="no cellular service"):
        h.traffic(state, ClientTrafficArgs(client="tab", mb=5), in_service=False)
    client = h.traffic(state, ClientTrafficArgs(client="tab", mb=5, mb_per_h=60), in_service=True)
    assert (client.used_mb, client.mb_per_h, h.modem.data_used_mb) == (5.0, 60.0, 5.0)
    assert h.drop(state, "tab") == 5.0
    assert h.modem.data_used_mb == 5.0  # the data stays counted on the modem
    with pytest.raises(CommandError, match="not on the hotspot"):
        h.client(state, "tab")


def test_a_passphrase_is_8_to_63_printable_ascii_on_both_ends_of_a_hotspot() -> None:
    for bad in ("short", "x" * 64, "tab\there!"):
        with pytest.raises(ValidationError):
            HotspotStartArgs(password=bad)
        with pytest.raises(ValidationError):
            uplink.JoinHotspotArgs(ssid="pho", password=bad, host="pho")
    assert uplink.JoinHotspotArgs(ssid="pho", password="~" * 63, host="pho").password == "~" * 63


def test_coordinates_near_home_are_home() -> None:
    near = MoveArgs(location="52.0001,4.0")
    assert destination(near, home_lat_lon="52.0,4.0", places_km={}, arrival_radius_km=0.1) == (HOME, 0.0)
    far = MoveArgs(location="office")
    assert destination(far, home_lat_lon=None, places_km={"office": 12}, arrival_radius_km=0.1) == ("office", 12)


def test_uplink_rule_prefers_known_wifi_then_an_online_hotspot() -> None:
    up, down = uplink.WifiState(ssid="home-5g", link="up"), uplink.WifiState(ssid="home-5g", link="down")
    joined = uplink.JoinedHotspot("pho-hotspot", "pho")
    known = ("home-5g",)
    assert uplink.choose(up, joined, known_wifi=known, online={"pho": True}) == "wifi"
    assert uplink.choose(down, joined, known_wifi=known, online={"pho": True}) == "hotspot"
    assert uplink.choose(down, joined, known_wifi=known, online={"pho": False}) == "none"
    assert uplink.choose(up, None, known_wifi=(), online={}) == "none"


def test_the_picture_goes_blank_just_after_three_frame_intervals() -> None:
    w = FrameWatch.begin(VideoSource(device="pho", stream="rear"), "t", now=0.0, fps=30.0)
    assert not w.blank(BLANK_AFTER_FRAME_INTERVALS / 30.0)
    assert w.blank(BLANK_AFTER_FRAME_INTERVALS / 30.0 + 1e-9)
    frame = Frame(stream="rear", source="pho", seq=7, ts="2026-01-01T00:00:00Z", width=1, height=1, fps=10.0)
    w.count(frame, 1.0)
    assert (w.frames, w.last_seq, w.age_s(1.5)) == (1, 7, 0.5)
    assert not w.blank(1.3)  # three intervals of the source's own 10 fps
    assert w.blank(1.3 + 1e-9)


def test_navigation_announces_an_eta_change_of_a_minute_or_more() -> None:
    nav = Navigation()
    trip = nav.begin(DriveStartArgs(destination="office", distance_km=45), now=0.0, top_speed_kmh=210)
    assert trip.eta_s() == pytest.approx(3600.0)  # mixed: 45 km/h
    with pytest.raises(CommandError, match="already driving"):
        nav.begin(DriveStartArgs(destination="gym", distance_km=1), now=0.0, top_speed_kmh=210)
    assert nav.take(nav.in_traffic(0.99, now=60.0, top_speed_kmh=210)) is None  # 36 s later: not announced
    previous = nav.take(nav.in_traffic(0.5, now=60.0, top_speed_kmh=210))
    assert previous == pytest.approx(3600.0)
    nav.end()
    with pytest.raises(CommandError, match="no trip"):
        nav.require()


def test_cabin_zones_and_the_mode_the_heat_pump_runs_in() -> None:
    assert cabin.zones_on(["rear_left"], ("driver",), True) == ["driver", "rear_left"]
    assert cabin.zones_on(["driver", "rear_left"], cabin.ZONES, False) == []
    model = thermal.RoomModel(65.0, 8.0e4, 5000.0, 5000.0, 2.5, 2.0, 150.0)
    targets = dict.fromkeys(cabin.ZONES, 24.0) | {"driver": 20.0}
    cooling = cabin.hvac(on=True, zones=["driver"], targets_c=targets, cabin_c=30.0, outdoor_c=35.0, model=model)
    heating = cabin.hvac(on=True, zones=["rear_left"], targets_c=targets, cabin_c=10.0, outdoor_c=0.0, model=model)
    assert (cooling.drive, cooling.target_c) == ("cool", 20.0)  # the driver's zone alone
    assert (heating.drive, heating.target_c) == ("heat", 24.0)


def test_notifications_and_display_keep_only_the_newest() -> None:
    notes: list[notifications.Notification] = []
    for n in range(4):
        notes = notifications.shown(notes, notifications.NotifyArgs(title=f"n{n}"), ts="t", kept=3)
    assert [n.title for n in notes] == ["n1", "n2", "n3"]
    history: list[display.DisplayMessage] = []
    for n in range(display.DISPLAY_HISTORY + 2):
        history = display.kept(history, display.DisplayMessage(text=f"m{n}", level="info", ts="t"))
    assert [m.text for m in history] == [f"m{n}" for n in range(2, display.DISPLAY_HISTORY + 2)]
