"""``/api/faults`` on a home run with a fault proxy per device, on both brokers, in real time."""

from __future__ import annotations

import time

import pytest

from tests.web.conftest import Web

LATENCY_S = 0.3
SLACK_S = 0.5  # what a loaded 2-core machine may add to a round trip


@pytest.fixture
def faults() -> bool:
    return True


async def _round_trip_s(web: Web, device: str) -> float:
    """Seconds from a command to its reply (the phone shows a notification; others end no call)."""
    command, args = ("notify", {"title": "t", "body": "b"}) if device == "phone" else ("call.end", {})
    began = time.perf_counter()
    response = await web.client.post(f"/api/devices/{device}/commands/{command}", json=args)
    assert response.status_code in (200, 409), response.text  # a reply, ok or not
    return time.perf_counter() - began


async def _set(web: Web, **fault: object) -> dict[str, object]:
    response = await web.client.post("/api/faults", json=fault)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_every_device_has_a_link_through_its_own_proxy(web: Web) -> None:
    response = await web.client.get("/api/faults")
    assert response.status_code == 200
    links = {link["device"]: link for link in response.json()}
    assert sorted(links) == sorted(d.id for d in web.home.plan.devices)
    assert len({link["port"] for link in links.values()}) == len(links)
    assert all(link["connections"] == 1 and link["latency_s"] == 0 for link in links.values())
    one = await web.client.get("/api/faults/phone")
    assert one.json() == links["phone"]


async def test_latency_delays_the_phone_each_way_and_clear_ends_it(web: Web) -> None:
    status = await _set(web, device="phone", latency="300ms")
    assert status["latency_s"] == LATENCY_S
    slow = await _round_trip_s(web, "phone")
    # the command in, the reply out: the phone hands its state and its reply over back to back and
    # never holds its reply for the broker's PUBACK of the state (one more round trip each way)
    assert 2 * LATENCY_S <= slow < 2 * LATENCY_S + SLACK_S, slow
    assert await _round_trip_s(web, "laptop") < SLACK_S  # only the phone's link is slow
    status = await _set(web, device="phone", clear=True)
    assert status["latency_s"] == 0
    assert await _round_trip_s(web, "phone") < SLACK_S


async def test_a_stall_holds_the_command_until_the_link_resumes(web: Web) -> None:
    await _set(web, device="phone", stall=True)
    response = await web.client.post("/api/devices/phone/commands/notify", json={"title": "t", "body": "held"})
    assert response.status_code == 504  # the reply timeout of the tests' settings, 2 s
    link = (await web.client.get("/api/faults/phone")).json()
    assert link["stalled"] is True
    assert link["held_bytes"] > 0
    assert link["connections"] == 1  # no reset: the connection is kept
    async with web.events("phone/event/notified", snapshot=False) as stream:
        await _set(web, device="phone", stall=False)
        notified = await stream.next(lambda m: m["type"] == "event")
    assert notified["data"]["body"] == "held"  # what the stall held went through when it ended


async def test_drop_resets_the_phone_which_comes_back(web: Web) -> None:
    async with web.events("phone/$availability", snapshot=False) as stream:
        status = await _set(web, device="phone", drop=True)
        assert status["drops"] == 1
        await stream.next(lambda m: m.get("data") == "offline")
        await stream.next(lambda m: m.get("data") == "online")
    assert await _round_trip_s(web, "phone") < SLACK_S


async def test_a_partition_keeps_the_tablet_away_until_it_heals(web: Web) -> None:
    async with web.events("tablet/$availability", snapshot=False) as stream:
        began = time.perf_counter()
        status = await _set(web, device="tablet", partition="1.5s")
        assert status["partitioned"] is True
        assert status["heals_at"] is not None
        await stream.next(lambda m: m.get("data") == "offline")
        await stream.next(lambda m: m.get("data") == "online")
        assert time.perf_counter() - began >= 1.5
    link = (await web.client.get("/api/faults/tablet")).json()
    assert link["partitioned"] is False
    assert link["connections"] == 1


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"device": "phone"}, 422, "exactly one of"),
        ({"device": "phone", "latency": "fast"}, 422, "not a duration"),
        ({"device": "phone", "latency": "1s", "stall": True}, 422, "exactly one of"),
        ({"device": "phone", "latency": "2m"}, 422, "less than or equal to 60"),
        ({"device": "phone", "partition": 0}, 422, "greater than 0"),
        ({"device": "phone", "drop": False}, 422, "Input should be True"),
        ({"device": "phone", "latency": "1s", "speed": 3}, 422, "Extra inputs"),
        ({"device": "../phone", "drop": True}, 422, "pattern"),
        ({"device": "toaster", "drop": True}, 404, "no device 'toaster'"),
    ],
)
async def test_a_bad_fault_is_refused_with_the_reason(
    web: Web, body: dict[str, object], status: int, says: str
) -> None:
    response = await web.client.post("/api/faults", json=body)
    assert response.status_code == status, response.text
    assert says in response.text
    links = (await web.client.get("/api/faults")).json()
    assert all(link["latency_s"] == 0 and not link["stalled"] and link["drops"] == 0 for link in links)
