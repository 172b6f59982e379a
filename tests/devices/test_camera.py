"""The security camera alone, in virtual time on the in-memory bus."""

from __future__ import annotations

import json

import pytest

from hyperhome.devices.camera import CLIP_LENGTH_S, MAX_CLIPS_LISTED, Camera
from hyperhome.devices.clock import parse_time
from hyperhome.devices.testing import DeviceHarness


def frames(cam: DeviceHarness[Camera]) -> int:
    return len(cam.published("stream/main"))


def last_state(cam: DeviceHarness[Camera]) -> dict[str, object]:
    message = cam.published("state")[-1]
    body: dict[str, object] = json.loads(message.payload)
    return body


async def test_privacy_rejects_a_live_view_and_sends_no_frames() -> None:
    async with DeviceHarness(Camera, state={"privacy": True}) as cam:
        reply = await cam.command("stream.start", {"stream": "main", "viewer": "tablet", "fps": 1})
        assert not reply.ok
        assert reply.error is not None
        assert reply.error.code == "rejected"
        assert "privacy" in reply.error.message
        await cam.clock.sleep(10)
        assert frames(cam) == 0
        assert cam.state.viewers == []


async def test_privacy_on_ends_live_views_at_once_and_off_allows_them_again() -> None:
    async with DeviceHarness(Camera) as cam:
        first = await cam.ok("stream.start", {"stream": "main", "viewer": "tablet", "fps": 1})
        second = await cam.ok("stream.start", {"stream": "main", "viewer": "dashboard", "fps": 1})
        assert first["topic"].endswith("/dut/stream/main")
        assert cam.state.viewers == ["dashboard", "tablet"]
        await cam.clock.sleep(5)
        assert frames(cam) >= 5

        result = await cam.ok("privacy", {"on": True})
        assert sorted(result["ended_leases"]) == sorted([first["lease"], second["lease"]])
        (ended,) = cam.events("stream_ended")
        assert ended["viewers"] == ["dashboard", "tablet"]
        assert ended["reason"] == "privacy"
        assert cam.state.viewers == []
        assert last_state(cam)["viewers"] == []
        count = frames(cam)
        await cam.clock.sleep(30)
        assert frames(cam) == count

        stop = await cam.command("stream.stop", {"lease": first["lease"]})
        assert stop.error is not None
        assert stop.error.code == "rejected"

        await cam.ok("privacy", {"on": False})
        await cam.ok("stream.start", {"stream": "main", "viewer": "tablet", "fps": 1})
        await cam.clock.sleep(3)
        assert frames(cam) > count


async def test_privacy_suppresses_motion_and_person_detection() -> None:
    async with DeviceHarness(Camera) as cam:
        await cam.ok("privacy", {"on": True})
        motion = await cam.ok("simulate.motion", {"zone": "doorstep"})
        person = await cam.ok("simulate.person", {"name": "alice"})
        assert motion == person == {"detected": False, "reason": "privacy mode is on"}
        await cam.clock.sleep(60)
        assert cam.events("motion") == []
        assert cam.events("person_detected") == []
        assert cam.events("clip_recorded") == []
        assert cam.state.clips == []
        assert cam.state.recording is None


async def test_person_publishes_person_detected_lists_a_clip_and_records_it_for_12_s() -> None:
    async with DeviceHarness(Camera) as cam:
        start = cam.clock.now()
        result = await cam.ok("simulate.person", {"name": "alice"})
        assert result == {"detected": True, "clip": "c-1"}

        (seen,) = cam.events("person_detected")
        assert (seen["known"], seen["name"], seen["clip"]) == (True, "alice", "c-1")
        published = last_state(cam)
        assert published["recording"] == "c-1"
        assert published["clips"] == [
            {"id": "c-1", "started": cam.clock.iso(start), "duration_s": CLIP_LENGTH_S, "trigger": "person"}
        ]

        await cam.clock.sleep(CLIP_LENGTH_S - 0.5)
        assert cam.events("clip_recorded") == []
        await cam.clock.sleep(60)
        (recorded,) = cam.events("clip_recorded")
        assert parse_time(recorded["ts"]) - start == pytest.approx(CLIP_LENGTH_S, abs=0.001)
        assert recorded == {
            "ts": cam.clock.iso(start + CLIP_LENGTH_S),
            "clip": "c-1",
            "started": cam.clock.iso(start),
            "duration_s": CLIP_LENGTH_S,
            "trigger": "person",
        }
        assert last_state(cam)["recording"] is None


async def test_stranger_and_anonymous_motion() -> None:
    async with DeviceHarness(Camera) as cam:
        await cam.ok("simulate.person", {})
        await cam.ok("simulate.motion", {})
        (stranger,) = cam.events("person_detected")
        assert (stranger["known"], stranger["name"]) == (False, None)
        (motion,) = cam.events("motion")
        assert (motion["zone"], motion["clip"]) == (None, "c-1")


async def test_detections_during_a_clip_join_it_and_a_person_relabels_it() -> None:
    async with DeviceHarness(Camera) as cam:
        start = cam.clock.now()
        await cam.ok("simulate.motion", {"zone": "doorstep"})
        await cam.clock.sleep(4)
        joined = await cam.ok("simulate.person", {"known": False})
        assert joined["clip"] == "c-1"
        assert [c.trigger for c in cam.state.clips] == ["person"]
        await cam.clock.sleep(20)
        (recorded,) = cam.events("clip_recorded")
        assert parse_time(recorded["ts"]) - start == pytest.approx(CLIP_LENGTH_S, abs=0.001)
        assert recorded["trigger"] == "person"

        again = await cam.ok("simulate.motion", {})
        assert again["clip"] == "c-2"
        assert [c.id for c in cam.state.clips] == ["c-1", "c-2"]
        assert [c.trigger for c in cam.state.clips] == ["person", "motion"]


async def test_privacy_mid_clip_cuts_it_short() -> None:
    async with DeviceHarness(Camera) as cam:
        await cam.ok("simulate.motion", {})
        await cam.clock.sleep(5)
        await cam.ok("privacy", {"on": True})
        (recorded,) = cam.events("clip_recorded")
        assert recorded["duration_s"] == pytest.approx(5.0)
        assert cam.state.clips[0].duration_s == pytest.approx(5.0)
        assert cam.state.recording is None
        await cam.clock.sleep(30)
        assert len(cam.events("clip_recorded")) == 1


async def test_clip_list_keeps_only_the_newest() -> None:
    async with DeviceHarness(Camera) as cam:
        for _ in range(MAX_CLIPS_LISTED + 3):
            await cam.ok("simulate.motion", {})
            await cam.clock.sleep(CLIP_LENGTH_S + 1)
        ids = [c.id for c in cam.state.clips]
        assert len(ids) == MAX_CLIPS_LISTED
        assert ids[0] == "c-4"
        assert ids[-1] == f"c-{MAX_CLIPS_LISTED + 3}"


async def test_detection_switch_stops_detection_but_not_the_stream() -> None:
    async with DeviceHarness(Camera) as cam:
        await cam.ok("detection", {"on": False})
        result = await cam.ok("simulate.person", {"name": "bob"})
        assert result == {"detected": False, "reason": "detection is off"}
        await cam.ok("stream.start", {"stream": "main", "viewer": "tablet", "fps": 2})
        await cam.clock.sleep(2)
        assert frames(cam) >= 4
        assert cam.events("person_detected") == []
        assert cam.state.clips == []


async def test_a_viewer_going_offline_drops_out_of_state() -> None:
    async with DeviceHarness(Camera) as cam:
        await cam.ok("stream.start", {"stream": "main", "viewer": "tablet", "fps": 1})
        assert last_state(cam)["viewers"] == ["tablet"]
        await cam.publish(cam.topics.availability("tablet"), "offline")
        assert cam.state.viewers == []
        assert last_state(cam)["viewers"] == []


async def test_bad_input_is_refused_and_changes_nothing() -> None:
    async with DeviceHarness(Camera) as cam:
        before = cam.state.model_copy(deep=True)
        states = len(cam.published("state"))
        for command, args in (
            ("simulate.person", {"name": "mallory", "known": False}),
            ("simulate.motion", {"zone": "../etc"}),
            ("privacy", {}),
            ("privacy", {"on": "sure"}),
        ):
            reply = await cam.command(command, args)
            assert reply.error is not None
            assert reply.error.code == "invalid_args", (command, args)
        reply = await cam.command("stream.start", {"stream": "rear", "viewer": "tablet"})
        assert reply.error is not None
        assert reply.error.code == "rejected"
        assert cam.state == before
        assert len(cam.published("state")) == states
        assert cam.events("motion") == cam.events("person_detected") == []


async def test_the_still_is_retained_and_follows_privacy() -> None:
    """``still``: a PNG after connect, black while privacy covers the lens, grey again after
    (retained on a real broker: tests/homeassistant reads it through Home Assistant)."""
    import zlib

    def grey(message_payload: bytes) -> int:
        assert message_payload.startswith(b"\x89PNG\r\n\x1a\n")
        idat = message_payload.index(b"IDAT")
        length = int.from_bytes(message_payload[idat - 4 : idat], "big")
        return zlib.decompress(message_payload[idat + 4 : idat + 4 + length])[1]  # first pixel (after the filter byte)

    async with DeviceHarness(Camera) as cam:
        stills = cam.published("still")
        assert len(stills) == 1
        assert grey(stills[0].payload) > 0
        await cam.ok("privacy", {"on": True})
        await cam.clock.settle()
        assert grey(cam.published("still")[-1].payload) == 0
        await cam.ok("privacy", {"on": True})  # no change: no new still
        await cam.clock.settle()
        assert len(cam.published("still")) == 2
        await cam.ok("privacy", {"on": False})
        await cam.clock.settle()
        assert grey(cam.published("still")[-1].payload) > 0
