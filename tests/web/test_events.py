"""``WS /api/events``: snapshot, live messages by topic filter, frames on demand and throttled."""

from __future__ import annotations

import asyncio
import re

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from hyperhome.broker.topics import Topics
from hyperhome.web.events import FilterError, Subscriber, intersect, parse_filter
from tests.web.conftest import Web

TOPICS = Topics("demo")


# -- pure logic ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("given", "absolute"),
    [
        ("#", "hyperhome/demo/#"),
        ("+/state", "hyperhome/demo/+/state"),
        ("phone/stream/rear", "hyperhome/demo/phone/stream/rear"),
        ("$orchestrator/flow/+", "hyperhome/demo/$orchestrator/flow/+"),
        ("hyperhome/demo/tablet/#", "hyperhome/demo/tablet/#"),
    ],
)
def test_filters_are_read_relative_to_the_home(given: str, absolute: str) -> None:
    assert parse_filter(given, TOPICS) == absolute


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("hyperhome/other-home/#", "outside the home"),
        ("hyperhome/#", "outside the home"),
        ("hyperhome/+/living-ac/state", "outside the home"),
        ("$sync/#", "internal"),
        ("+/sta#", "'#' must be a whole level"),
        ("#/state", "'#' must be a whole level"),
        ("phone+/state", "'+' must be a whole level"),
        ("", "1 to 256 characters"),
        ("x" * 300, "1 to 256 characters"),
    ],
)
def test_filters_outside_the_home_or_malformed_are_refused(given: str, reason: str) -> None:
    with pytest.raises(FilterError, match=re.escape(reason)):
        parse_filter(given, TOPICS)


@pytest.mark.parametrize(
    ("a", "b", "both"),
    [
        ("h/d/#", "h/d/+/stream/#", "h/d/+/stream/#"),
        ("h/d/phone/#", "h/d/+/stream/#", "h/d/phone/stream/#"),
        ("h/d/+/+/rear", "h/d/+/stream/#", "h/d/+/stream/rear"),
        ("h/d/+/state", "h/d/+/stream/#", None),
        ("h/d/phone/stream/rear", "h/d/+/stream/#", "h/d/phone/stream/rear"),
        ("a/#", "a", "a"),
    ],
)
def test_intersection_of_filters(a: str, b: str, both: str | None) -> None:
    assert intersect(a, b) == both
    assert intersect(b, a) == both


async def test_frames_are_coalesced_per_stream_and_the_newest_wins() -> None:
    sub = Subscriber(frame_interval_s=0.2)
    for seq in range(1, 7):
        sub.push_frame("h/d/phone/stream/rear", f"rear {seq}")
    sub.push_frame("h/d/tablet/stream/front", "front 1")
    assert await sub.next_batch(1.0) == ["rear 1", "front 1"]
    async with asyncio.timeout(1.0):
        assert await sub.next_batch(1.0) == ["rear 6"], "the frames in between are dropped, the newest sent"
    assert await sub.next_batch(0.3) == [], "nothing more"
    sub.close()


async def test_a_subscriber_that_falls_behind_is_marked_overflowed() -> None:
    sub = Subscriber(max_queue=3)
    for n in range(5):
        sub.push(str(n))
    assert sub.overflowed
    assert await sub.next_batch(0.1) == ["0", "1", "2"]


# -- on a real home -----------------------------------------------------------------------------------
async def test_snapshot_then_live_state_by_filter(web: Web) -> None:
    async with web.events("+/state", "+/event/#") as events:
        hello = events.hello
        assert hello is not None
        assert hello["filters"] == ["+/event/#", "+/state"]
        assert {d["id"] for d in hello["devices"]} >= {"living-ac", "tablet", "phone", "car"}
        assert hello["orchestrator"] == "online"
        response = await web.client.post("/api/devices/living-ac/commands/set", json={"power": True})
        assert response.status_code == 200
        state = await events.next(lambda m: m["type"] == "state" and m["device"] == "living-ac")
        assert state["data"]["power"] is True
        assert state["topic"] == "hyperhome/demo/living-ac/state"
    assert not [m for m in events.seen if m["type"] in ("reply", "availability", "frame")], "only what was asked for"


async def test_frames_of_a_stream_come_on_demand_at_most_ten_a_second(web: Web) -> None:
    await web.client.post("/api/devices/tablet/commands/call.start", json={})
    async with web.events("tablet/state") as events:
        assert web.home.topics.stream("tablet", "front") not in str(events.hello)
        await events.send({"subscribe": ["tablet/stream/front"]})
        await events.next(lambda m: m["type"] == "filters" and "tablet/stream/front" in m["filters"])
        first = await events.next(lambda m: m["type"] == "frame")
        assert first["device"] == "tablet"
        assert first["data"]["source"] == "tablet"
        assert first["data"]["fps"] == 30
        loop = asyncio.get_running_loop()
        start, frames = loop.time(), []
        while loop.time() - start < 1.0:
            frame = await events.next(lambda m: m["type"] == "frame")
            frames.append(frame["data"]["seq"])
        # the tablet films at 30 fps; the browser gets about 10 of them a second, the newest each time
        assert 8 <= len(frames) <= 12, frames
        assert frames[-1] - frames[0] >= 20, "seq moves on at the source's own rate"
        await events.send({"unsubscribe": ["tablet/stream/front"]})
        await events.next(lambda m: m["type"] == "filters" and "tablet/stream/front" not in m["filters"])
        await events.next(lambda m: m["type"] == "tick", timeout_s=3)  # let frames already queued drain
        events.seen.clear()
        await events.next(lambda m: m["type"] == "tick", timeout_s=3)
        assert not [m for m in events.seen if m["type"] == "frame"], "no frame after unsubscribing"


@pytest.mark.parametrize("broker_kind", ["embedded"])
async def test_flow_updates_and_orchestrator_events_arrive(web: Web) -> None:
    await web.client.post("/api/devices/tablet/commands/call.start", json={})
    async with web.events("$orchestrator/#") as events:
        started = await web.client.post(
            "/api/flows/camera_handoff",
            json={"call_device": "tablet", "source": {"device": "phone", "stream": "rear"}, "user": "alice"},
        )
        flow_id = started.json()["flow_id"]
        event = await events.next(lambda m: m["type"] == "event" and m["name"] == "flow_started")
        assert event["data"]["flow_id"] == flow_id
        update = await events.next(lambda m: m["type"] == "flow" and m["data"]["state"] == "running")
        assert update["name"] == flow_id
        reply = next(m for m in events.seen if m["type"] == "reply")
        assert reply["data"]["result"] == {"flow_id": flow_id}


@pytest.mark.parametrize("broker_kind", ["embedded"])
async def test_bad_filters_are_refused_with_a_reason(web: Web) -> None:
    async with web.events("+/state") as events:
        await events.send({"subscribe": ["hyperhome/other-home/#"]})
        error = await events.next(lambda m: m["type"] == "error")
        assert "outside the home" in error["message"]
        await events.send({"subscribe": "not a list"})
        error = await events.next(lambda m: m["type"] == "error")
        assert "subscribe" in error["message"]
        await events.send({"subscribe": ["+/event/#"]})
        still = await events.next(lambda m: m["type"] == "filters")
        assert still["filters"] == ["+/event/#", "+/state"], "the connection goes on"
    with pytest.raises(ConnectionClosed) as closed:
        async with web.events("$sync/#"):
            pass
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008


@pytest.mark.parametrize("broker_kind", ["embedded"])
async def test_another_site_cannot_open_the_event_stream(web: Web) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with web.events("#", Origin="http://evil.example"):
            pass
    assert refused.value.response.status_code == 403
    async with web.events("#", Origin=web.url.rstrip("/")) as events:
        assert events.hello is not None, "the dashboard's own origin is welcome"


@pytest.mark.parametrize("broker_kind", ["embedded"])
async def test_commands_and_the_secrets_they_carry_never_reach_a_browser(web: Web) -> None:
    async with web.events("#") as events:
        response = await web.client.post(
            "/api/devices/door-lock/commands/unlock", json={"method": "pin", "pin": "975310"}
        )
        assert response.status_code == 409
        await events.next(lambda m: m["type"] == "reply" and m["device"] == "door-lock")
        await events.next(lambda m: m["type"] == "tick")
    assert not [m for m in events.seen if "/cmd/" in m.get("topic", "")]
    assert "975310" not in str(events.seen), "the PIN typed is not echoed to the page"
