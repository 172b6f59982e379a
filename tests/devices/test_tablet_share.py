"""The tablet's side of network sharing, alone on the in-memory bus: asking, leaving, its traffic.

The orchestrator's part (the flow) is in tests/integration/test_network_share.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from hyperhome.devices.laptop import Laptop
from hyperhome.devices.tablet import Tablet
from hyperhome.devices.testing import DeviceHarness

H = DeviceHarness[Tablet]
PASSWORD = "correct horse battery"
CAFE = {"ssid": "cafe-guest", "link": "up"}


def shown(h: H) -> dict[str, Any]:
    state: dict[str, Any] = h.published("state")[-1].json()
    return state


async def join_phone(h: H) -> None:
    await h.publish(h.topics.availability("phone"), "online")
    await h.ok("network.join_hotspot", {"ssid": "Alice's phone", "password": PASSWORD, "host": "phone"})


async def test_losing_wifi_makes_the_tablet_ask_for_its_owners_phone_after_saying_it_is_offline() -> None:
    async with DeviceHarness(Tablet, device_id="tablet", owner="alice") as h:
        await h.ok("simulate.wifi", CAFE)
        (intent,) = h.events("intent")
        assert (intent["intent"], intent["user"], intent["args"]) == ("network_share", "alice", {"tablet": "tablet"})
        at = next(i for i, m in enumerate(h.messages) if m.topic == h.topics.event("tablet", "intent"))
        before = [m.json() for m in h.messages[:at] if m.topic == h.topics.state("tablet")]
        assert before[-1]["online"] is False  # the orchestrator checks the intent against an offline tablet
        intents_before = len(h.events("intent"))
        await h.ok("simulate.wifi", {"link": "down"})  # still offline: it does not ask again
        assert len(h.events("intent")) == intents_before


async def test_it_asks_only_with_an_owner_with_auto_share_and_with_no_hotspot_to_fall_back_on() -> None:
    async with DeviceHarness(Tablet) as nobodys:
        await nobodys.ok("simulate.wifi", CAFE)
        assert nobodys.events("intent") == []
        reply = await nobodys.command("network.request_share")
        assert reply.error is not None
        assert (reply.error.code, "has no owner" in reply.error.message) == ("rejected", True)
    async with DeviceHarness(Tablet, owner="alice", config={"auto_share": False}) as off:
        await off.ok("simulate.wifi", CAFE)
        assert off.events("intent") == []
    async with DeviceHarness(Laptop, owner="alice") as laptop:  # a laptop asks only when told to
        await laptop.ok("simulate.wifi", CAFE)
        assert laptop.events("intent") == []
        assert (await laptop.ok("network.request_share", {"phone": "phone"}))["args"] == {
            "tablet": "dut",
            "phone": "phone",
        }
    async with DeviceHarness(Tablet, owner="alice") as h:
        await join_phone(h)  # remembered as a fallback while home Wi-Fi is up
        await h.ok("simulate.wifi", CAFE)
        assert (shown(h)["uplink"], h.events("intent")) == ("hotspot", [])
        reply = await h.command("network.request_share")
        assert reply.error is not None
        assert reply.error.message == "already online through phone's hotspot"


async def test_leaving_a_hotspot_says_why_and_does_not_ask_again() -> None:
    async with DeviceHarness(Tablet, owner="alice", config={"share_phone": "phone"}) as h:
        await h.ok("simulate.wifi", CAFE)
        assert h.events("intent")[-1]["args"] == {"tablet": "dut", "phone": "phone"}
        await join_phone(h)
        reason = "hotspot Alice's phone stopped: the phone's battery is low (15.0 %)"
        assert await h.ok("network.leave", {"reason": reason}) == {"uplink": "none", "online": False}
        assert h.events("offline")[-1]["reason"] == reason
        assert len(h.events("intent")) == 1
        reply = await h.command("network.leave", {"reason": ""})
        assert reply.error is not None
        assert reply.error.code == "invalid_args"


async def test_traffic_is_the_calls_plus_the_background_and_nothing_while_offline() -> None:
    async with DeviceHarness(Tablet, owner="alice", config={"auto_share": False}) as h:
        assert shown(h)["traffic_mb_per_h"] == 0.0
        await h.ok("simulate.traffic", {"mb_per_h": 120})
        await h.ok("call.start")
        assert (shown(h)["background_mb_per_h"], shown(h)["traffic_mb_per_h"]) == (120.0, 1200.0)
        await h.ok("simulate.traffic", {"mb": 250})
        assert h.events("traffic") == [{"ts": h.events("traffic")[0]["ts"], "mb": 250.0, "uplink": "wifi"}]
        await h.ok("simulate.wifi", CAFE)
        assert shown(h)["traffic_mb_per_h"] == 0.0  # nothing goes through without an uplink
        reply = await h.command("simulate.traffic", {"mb": 1})
        assert reply.error is not None
        assert (reply.error.code, reply.error.message) == ("rejected", "offline: no data goes through")
        await join_phone(h)
        assert shown(h)["traffic_mb_per_h"] == 1200.0
        await h.ok("call.end")
        assert shown(h)["traffic_mb_per_h"] == 120.0


@pytest.mark.parametrize(
    "args", [{}, {"mb": 0}, {"mb": -1}, {"mb_per_h": -5}, {"mb_per_h": 100001}, {"mb": 5, "extra": 1}]
)
async def test_bad_traffic_and_share_requests_change_nothing(args: dict[str, Any]) -> None:
    async with DeviceHarness(Tablet, owner="alice") as h:
        before = h.state.model_copy()
        reply = await h.command("simulate.traffic", args)
        assert reply.error is not None
        assert reply.error.code == "invalid_args"
        reply = await h.command("network.request_share", {"phone": "../phone"})
        assert reply.error is not None
        assert reply.error.code == "invalid_args"
        assert h.state == before
        assert h.events("intent") == h.events("traffic") == []
