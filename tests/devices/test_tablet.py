"""The tablet alone, in virtual time on the in-memory bus: its video call and its network.

A remote camera is simulated by publishing ``Frame`` payloads on its stream topic at the
simulated moments a test wants (starting the phone's lease is the orchestrator's job, not the
tablet's). Counters are asserted on the *published* state, which is what a user sees.
"""

from __future__ import annotations

from typing import Any

import pytest

from hyperhome.broker.wire import Frame
from hyperhome.devices.clock import parse_time
from hyperhome.devices.tablet import Tablet
from hyperhome.devices.testing import DeviceHarness

H = DeviceHarness[Tablet]
FPS = 30.0
PASSWORD = "correct horse battery"


def frame(h: H, device: str, stream: str, seq: int, fps: float = FPS) -> bytes:
    return Frame(stream=stream, source=device, seq=seq, ts=h.clock.iso(), width=1920, height=1080, fps=fps).to_payload()


async def send_frames(h: H, device: str, stream: str, count: int, *, first_seq: int = 1, fps: float = FPS) -> float:
    """Publish ``count`` frames at ``fps`` (simulated); return the moment of the last one."""
    last = h.clock.now()
    for seq in range(first_seq, first_seq + count):
        last = h.clock.now()
        await h.publish(h.topics.stream(device, stream), frame(h, device, stream, seq, fps))
        await h.clock.sleep(1 / fps)
    return last


def shown(h: H) -> dict[str, Any]:
    """The last state the tablet published."""
    state: dict[str, Any] = h.published("state")[-1].json()
    return state


def published_since(h: H, mark: int, suffix: str) -> list[dict[str, Any]]:
    prefix = h.topics.device(h.device.id) + "/"
    return [m.json() for m in h.messages[mark:] if m.topic == prefix + suffix]


# -- video call ------------------------------------------------------------------------------------
async def test_call_shows_the_own_camera_through_its_own_lease_and_hang_up_releases_it() -> None:
    async with DeviceHarness(Tablet) as h:
        result = await h.ok("call.start", {"with": "grandma"})
        assert result["source"] == {"device": "dut", "stream": "front"}
        assert [(lease.viewer, lease.stream, lease.fps) for lease in h.device.active_leases()] == [
            ("dut", "front", FPS)
        ]
        state = shown(h)
        assert (state["in_call"], state["call_with"]) == (True, "grandma")
        assert state["source"] == {"device": "dut", "stream": "front"}

        await h.clock.sleep(3.0)
        own = [m.json() for m in h.published("stream/front")]
        assert len(own) == pytest.approx(90, abs=1)
        assert (own[0]["width"], own[0]["height"]) == (1280, 720)
        (changed,) = h.events("video_source_changed")
        assert changed == {"ts": changed["ts"], "device": "dut", "stream": "front", "first_frame_s": 0.0}
        state = shown(h)  # the refresh at 2 s
        # a frame at the very instant of the state publish may be counted on either side of it
        before = sum(1 for f in own if parse_time(f["ts"]) < parse_time(state["ts"]))
        at_or_before = sum(1 for f in own if parse_time(f["ts"]) <= parse_time(state["ts"]))
        assert before <= state["frames_received"] <= at_or_before
        assert state["blank"] is False

        result = await h.ok("call.end")
        assert result["duration_s"] == 3.0
        assert h.device.active_leases() == []
        state = shown(h)
        assert (state["in_call"], state["source"], state["frames_received"]) == (False, None, 0)
        frames_before = len(h.published("stream/front"))
        await h.clock.sleep(10)
        assert len(h.published("stream/front")) == frames_before
        assert shown(h)["seq"] == state["seq"]  # no refresh outside a call


async def test_call_start_and_end_are_rejected_when_they_make_no_sense() -> None:
    async with DeviceHarness(Tablet) as h:
        reply = await h.command("call.end")
        assert reply.error is not None
        assert reply.error.code == "rejected"
        await h.ok("call.start")
        before = h.state.model_copy()
        reply = await h.command("call.start", {"with": "bob"})
        assert reply.error is not None
        assert reply.error.code == "rejected"
        assert h.state == before


async def test_remote_source_first_frame_counting_and_blank_when_frames_stop() -> None:
    async with DeviceHarness(Tablet) as h:
        await h.ok("call.start")
        switched_at = h.clock.now()
        result = await h.ok("call.set_video_source", {"device": "phone", "stream": "rear"})
        assert result["topic"] == "hyperhome/test/phone/stream/rear"
        assert h.device.active_leases() == []  # the own camera is released; the phone's lease is not ours

        await h.clock.sleep(0.25)  # the phone's camera is still starting: the picture is blank meanwhile
        assert shown(h)["blank"] is True
        assert h.events("video_source_changed") == []  # switched before the own camera's first frame

        mark = len(h.messages)
        last_frame_at = await send_frames(h, "phone", "rear", 30)
        events = h.events("video_source_changed")
        assert [(e["device"], e["stream"], e["first_frame_s"]) for e in events] == [("phone", "rear", 0.25)]
        assert parse_time(events[0]["ts"]) - switched_at == pytest.approx(0.25, abs=0.001)
        states = published_since(h, mark, "state")
        assert 1 <= len(states) <= 2  # at the first frame, and maybe one refresh: never per frame
        assert (states[0]["frames_received"], states[0]["last_frame_seq"], states[0]["blank"]) == (1, 1, False)

        await h.clock.sleep(0.1 - 1 / FPS - 0.005)  # 95 ms after the last frame: fine
        assert shown(h)["blank"] is False
        await h.clock.sleep(0.01)  # 105 ms: more than 3 frame intervals without a frame
        state = shown(h)
        assert state["blank"] is True
        assert (state["frames_received"], state["last_frame_seq"]) == (30, 30)
        assert parse_time(state["ts"]) - last_frame_at == pytest.approx(3 / FPS, abs=0.002)

        mark = len(h.messages)
        await h.clock.sleep(6)
        ages = [s["last_frame_age_s"] for s in published_since(h, mark, "state")]
        assert len(ages) == 3  # one per refresh (2 s), because the age changed
        assert ages == sorted(ages)
        assert ages[-1] - ages[0] == pytest.approx(4.0)

        await send_frames(h, "phone", "rear", 1, first_seq=31)  # the picture comes back
        state = shown(h)
        assert (state["blank"], state["frames_received"], state["last_frame_seq"]) == (False, 31, 31)
        assert len(h.events("video_source_changed")) == 1  # still once per switch


async def test_switching_ignores_frames_of_the_old_source_and_back_to_the_own_camera() -> None:
    async with DeviceHarness(Tablet) as h:
        await h.ok("call.start")
        await h.ok("call.set_video_source", {"device": "phone", "stream": "rear"})
        await send_frames(h, "phone", "rear", 5)
        result = await h.ok("call.set_video_source", {"device": "phone", "stream": "rear"})
        assert result["changed"] is False

        await h.ok("call.set_video_source", {"device": "car", "stream": "cabin"})
        for i in range(10):  # the phone's lease is still running: its frames keep coming
            await h.publish(h.topics.stream("phone", "rear"), frame(h, "phone", "rear", 100 + i))
            if i % 2 == 0:
                await h.publish(h.topics.stream("car", "cabin"), frame(h, "car", "cabin", 500 + i // 2, fps=15))
            await h.clock.sleep(1 / FPS)
        await h.clock.sleep(2)
        state = shown(h)
        assert state["source"] == {"device": "car", "stream": "cabin"}
        assert (state["frames_received"], state["last_frame_seq"]) == (5, 504)

        mark = len(h.messages)
        await h.ok("call.set_video_source", {"device": "dut", "stream": "front"})
        assert [lease.viewer for lease in h.device.active_leases()] == ["dut"]
        await send_frames(h, "car", "cabin", 5, first_seq=600)  # no longer shown
        await h.clock.sleep(2)
        own_seqs = [m.json()["seq"] for m in h.messages[mark:] if m.topic == h.topics.stream("dut", "front")]
        state = shown(h)
        assert state["source"] == {"device": "dut", "stream": "front"}
        assert state["last_frame_seq"] in own_seqs
        assert state["frames_received"] == own_seqs.index(state["last_frame_seq"]) + 1
        devices = [(e["device"], e["first_frame_s"]) for e in h.events("video_source_changed")]
        assert devices == [("phone", 0.0), ("car", 0.0), ("dut", 0.0)]


async def test_bad_video_source_changes_nothing() -> None:
    async with DeviceHarness(Tablet) as h:
        reply = await h.command("call.set_video_source", {"device": "phone", "stream": "rear"})
        assert reply.error is not None
        assert reply.error.code == "rejected"  # no call
        await h.ok("call.start")
        before, published = h.state.model_copy(), len(h.published("state"))
        for args in (
            {"device": "phone", "stream": "rear/#"},
            {"device": "phone", "stream": ""},
            {"device": "Phone!", "stream": "rear"},
            {"device": "phone"},
            {"device": "phone", "stream": "rear", "fps": 60},
        ):
            reply = await h.command("call.set_video_source", args)
            assert reply.error is not None
            assert reply.error.code == "invalid_args", args
        reply = await h.command("call.set_video_source", {"device": "dut", "stream": "rear"})
        assert reply.error is not None
        assert (reply.error.code, reply.error.message) == ("rejected", "dut has no stream 'rear' (streams: front)")
        reply = await h.command("call.start", {"with": ""})
        assert reply.error is not None
        assert reply.error.code == "invalid_args"
        assert h.state == before
        assert len(h.published("state")) == published
        assert [lease.viewer for lease in h.device.active_leases()] == ["dut"]


async def test_a_tablet_can_start_in_a_call() -> None:
    state = {"in_call": True, "source": {"device": "phone", "stream": "rear"}}
    async with DeviceHarness(Tablet, state=state) as h:
        await send_frames(h, "phone", "rear", 3)
        (changed,) = h.events("video_source_changed")
        assert changed["device"] == "phone"
        assert h.device.active_leases() == []


# -- network ---------------------------------------------------------------------------------------
async def test_hotspot_then_its_host_goes_offline_then_home_wifi_again() -> None:
    async with DeviceHarness(Tablet, config={"known_wifi": ["home-5g"]}) as h:
        state = shown(h)
        assert (state["wifi"], state["uplink"], state["online"]) == ({"ssid": "home-5g", "link": "up"}, "wifi", True)

        await h.ok("simulate.wifi", {"link": "down"})  # walked out of the house
        assert h.events("offline")[-1]["reason"] == "Wi-Fi home-5g out of range"
        await h.publish(h.topics.availability("phone"), "online")
        result = await h.ok("network.join_hotspot", {"ssid": "alice-phone", "password": PASSWORD, "host": "phone"})
        assert result == {"uplink": "hotspot", "online": True}
        assert [e["uplink"] for e in h.events("online")] == ["hotspot"]
        state = shown(h)
        assert (state["uplink"], state["online"], state["hotspot_host"]) == ("hotspot", True, "phone")

        await h.publish(h.topics.availability("phone"), "offline")
        offline = h.events("offline")
        assert len(offline) == 2
        assert offline[-1]["reason"] == "hotspot alice-phone gone: its host phone went offline"
        state = shown(h)
        assert (state["uplink"], state["online"], state["hotspot_host"]) == ("none", False, None)

        await h.ok("simulate.wifi", {"ssid": "home-5g", "link": "up"})  # back home
        assert [e["uplink"] for e in h.events("online")] == ["hotspot", "wifi"]
        state = shown(h)
        assert (state["wifi"], state["uplink"], state["online"]) == ({"ssid": "home-5g", "link": "up"}, "wifi", True)
        assert not any(PASSWORD.encode() in m.payload for m in h.messages if "/cmd/" not in m.topic)


async def test_known_wifi_wins_and_the_remembered_hotspot_comes_back_with_its_host() -> None:
    async with DeviceHarness(Tablet) as h:
        await h.publish(h.topics.availability("phone"), "online")
        result = await h.ok("network.join_hotspot", {"ssid": "alice-phone", "password": PASSWORD, "host": "phone"})
        assert result == {"uplink": "wifi", "online": True}  # home Wi-Fi is up: the hotspot is the fallback
        await h.ok("simulate.wifi", {"link": "down"})
        assert (h.state.uplink, h.state.hotspot_host) == ("hotspot", "phone")
        assert h.events("online") == h.events("offline") == []  # online never changed

        await h.publish(h.topics.availability("phone"), "offline")
        await h.publish(h.topics.availability("phone"), "online")
        assert [e["uplink"] for e in h.events("online")] == ["hotspot"]

        await h.ok("network.leave")
        assert h.events("offline")[-1]["reason"] == "left hotspot alice-phone"
        await h.publish(h.topics.availability("phone"), "offline")
        await h.publish(h.topics.availability("phone"), "online")
        assert (h.state.uplink, h.state.online, len(h.events("online"))) == ("none", False, 1)  # forgotten
        reply = await h.command("network.leave")
        assert reply.error is not None
        assert reply.error.code == "rejected"


async def test_an_unknown_wifi_is_not_joined() -> None:
    async with DeviceHarness(Tablet) as h:
        await h.ok("simulate.wifi", {"ssid": "cafe-free", "link": "up"})
        state = shown(h)
        assert (state["wifi"], state["uplink"], state["online"]) == ({"ssid": "cafe-free", "link": "up"}, "none", False)
        assert h.events("offline")[-1]["reason"] == "Wi-Fi cafe-free is not a known network"


async def test_bad_network_input_changes_nothing() -> None:
    async with DeviceHarness(Tablet) as h:
        await h.ok("simulate.wifi", {"link": "down"})
        before, published = h.state.model_copy(), len(h.published("state"))
        join = {"ssid": "alice-phone", "password": PASSWORD, "host": "phone"}
        for args in (
            {**join, "ssid": ""},
            {**join, "ssid": "é" * 17},  # 17 characters, 34 octets
            {**join, "password": "short"},
            {**join, "password": "x" * 64},
            {**join, "host": "../phone"},
            {"ssid": "alice-phone", "password": PASSWORD},
        ):
            reply = await h.command("network.join_hotspot", args)
            assert reply.error is not None
            assert reply.error.code == "invalid_args", args
        for args in ({"ssid": "", "link": "up"}, {"link": "sideways"}, {"ssid": "home-5g"}):
            reply = await h.command("simulate.wifi", args)
            assert reply.error is not None
            assert reply.error.code == "invalid_args", args
        for args in (join, {**join, "host": "dut"}):  # the phone is not online; a device's own hotspot
            reply = await h.command("network.join_hotspot", args)
            assert reply.error is not None
            assert reply.error.code == "rejected", args
        assert h.state == before
        assert len(h.published("state")) == published


async def test_a_viewer_going_offline_still_ends_its_lease_on_the_tablet_camera() -> None:
    async with DeviceHarness(Tablet) as h:
        await h.ok("stream.start", {"stream": "front", "viewer": "dashboard", "fps": 10})
        await h.publish(h.topics.availability("dashboard"), "offline")
        assert h.device.active_leases() == []
