"""network_share on both brokers, in virtual time: the tablet online through the owner's phone.

The demo home: Alice's phone (76 %, at the office) and tablet, both hers; the laptop has no owner.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiomqtt
import pytest

from hyperhome.broker.credentials import Login
from hyperhome.broker.wire import FlowStatus
from hyperhome.devices.base import DeviceSpec
from hyperhome.home.homefile import HomeFile, load_home
from hyperhome.home.runtime import Home
from hyperhome.orchestrator.controller import Controller
from tests.integration.conftest import Recorder

CAFE = {"ssid": "cafe-guest", "link": "up"}
HOME_WIFI = {"ssid": "home-5g", "link": "up"}
WALL_WAIT_S = 5.0


@pytest.fixture
def plan() -> HomeFile:
    home = load_home("demo")
    home.residents.append("bob")
    home.devices.append(DeviceSpec(id="bob-phone", kind="phone", owner="bob"))
    return home


def state(controller: Controller, device: str) -> dict[str, Any]:
    view = controller.registry.devices[device]
    assert view.state is not None
    return view.state


def sharing(status: FlowStatus) -> bool:
    return any(s.name == "share" for s in status.steps)


async def share_started_by_the_tablet(home: Home, controller: Controller) -> str:
    """The tablet walks into a café with an unknown Wi-Fi: it asks for the share by itself."""
    await controller.send("tablet", "simulate.wifi", CAFE)
    await home.clock.sleep(1)
    (flow,) = [s for s in controller.flows.values() if s.kind == "network_share"]
    flow_id: str = flow.id
    await controller.wait_flow(flow_id, sharing, timeout_s=10)
    await controller.synced()
    return flow_id


async def test_away_from_home_wifi_the_tablet_is_online_through_the_phone_and_its_data_counts_there(
    home: Home, controller: Controller
) -> None:
    flow_id = await share_started_by_the_tablet(home, controller)
    status = controller.flows[flow_id]
    assert (status.user, status.args["tablet"], (status.result or {})["phone"]) == ("alice", "tablet", "phone")
    tablet = state(controller, "tablet")
    assert (tablet["online"], tablet["uplink"], tablet["hotspot_host"]) == (True, "hotspot", "phone")
    phone = state(controller, "phone")
    assert phone["hotspot"]["on"]
    assert [c["id"] for c in phone["hotspot"]["clients"]] == ["tablet"]

    await controller.send("tablet", "simulate.traffic", {"mb_per_h": 600})  # browsing and mail
    await home.clock.sleep(1800)
    await controller.send("tablet", "simulate.traffic", {"mb": 50})  # a download
    await home.clock.sleep(600)
    await controller.send("tablet", "simulate.wifi", HOME_WIFI)  # home again

    status = await controller.wait_flow(flow_id, timeout_s=10)
    assert status.state == "succeeded", status.error
    assert (status.result or {})["ended_because"] == "tablet_on_known_wifi"
    assert (status.result or {})["used_mb"] == 450.0  # 600 MB/h for 40 min, plus 50 MB
    assert [s.name for s in status.steps] == ["start_hotspot", "join", "share", "stop"]
    await controller.synced()
    phone = state(controller, "phone")
    assert phone["data_used_mb"] == 450.0  # counted on the phone's modem
    assert phone["hotspot"] == {"on": False, "ssid": None, "clients": []}
    tablet = state(controller, "tablet")
    assert (tablet["online"], tablet["uplink"]) == (True, "wifi")


async def test_the_password_travels_only_on_the_two_cmd_topics_no_other_device_can_read(
    home: Home, controller: Controller, recorder: Recorder
) -> None:
    assert home.credentials is not None
    spied = {"laptop": ["phone", "tablet"], "bob-phone": ["phone", "tablet"], "car": ["phone", "tablet"]}
    async with spies(home, spied) as seen:
        flow_id = await share_started_by_the_tablet(home, controller)
        for spy in spied:  # control messages each spy may read, sent after everything else
            await controller.bus.publish(home.topics.cmd(spy, "ping"), {"id": f"ping-{spy}", "args": {}})
        await asyncio.gather(*(seen[spy].wait_for_ping() for spy in spied))
    (start,) = recorder.json_on("/phone/cmd/hotspot.start")
    password = start["args"]["password"]
    assert len(password) >= 12
    carrying = {m.topic for m in recorder.messages if password.encode() in m.payload}
    assert carrying == {home.topics.cmd("phone", "hotspot.start"), home.topics.cmd("tablet", "network.join_hotspot")}
    for spy, watch in seen.items():
        assert not [t for t, payload in watch.messages if password.encode() in payload], spy
        assert not [t for t, _ in watch.messages if "/cmd/ping" not in t], spy
    status = controller.flows[flow_id]
    assert password not in str(status)


class _Spy:
    def __init__(self, client: aiomqtt.Client, ping: str) -> None:
        self.client = client
        self.ping = ping
        self.messages: list[tuple[str, bytes]] = []

    async def wait_for_ping(self) -> None:
        async with asyncio.timeout(WALL_WAIT_S):
            async for message in self.client.messages:
                assert isinstance(message.payload, bytes)
                self.messages.append((str(message.topic), message.payload))
                if str(message.topic) == self.ping:
                    return


@contextlib.asynccontextmanager
async def spies(home: Home, spied: dict[str, list[str]]) -> AsyncIterator[dict[str, _Spy]]:
    """Raw MQTT clients logged in as devices that take no part, subscribed to other devices' ``cmd``
    topics.

    A login has one client id (broker/identity.py), so each spied device is stopped first and
    its spy connects in its place. Access control refuses those subscriptions (amqtt in the
    SUBACK; Mosquitto grants them and filters every delivery); each spy's own ``cmd/ping``, which
    it may read, closes the watch.
    """
    assert home.credentials is not None
    assert home.endpoint is not None
    result: dict[str, _Spy] = {}
    async with contextlib.AsyncExitStack() as stack:
        for device, targets in spied.items():
            await home.devices[device].stop()
            login: Login = home.credentials.device(device)
            client = aiomqtt.Client(
                home.endpoint.host,
                home.endpoint.port,
                username=login.username,
                password=login.password,
                identifier=login.username,
                protocol=aiomqtt.ProtocolVersion.V311,
                timeout=WALL_WAIT_S,
            )
            await stack.enter_async_context(client)
            for target in targets:
                await client.subscribe(home.topics.cmd(target, "#"), qos=1)
            ping = home.topics.cmd(device, "ping")
            await client.subscribe(ping, qos=1)
            result[device] = _Spy(client, ping)
        yield result


# -- the ends: battery, the phone dropping, cancel ---------------------------------------------------
class TestPhoneLowOnBattery:
    @pytest.fixture
    def plan(self) -> HomeFile:
        """The phone at 20 %: with the hotspot (-13 %/h in all) it reaches 15 % after 23 min 4 s."""
        home = load_home("demo")
        home.device("phone").state["battery_pct"] = 20
        home.device("tablet").config["auto_share"] = False
        return home

    async def test_falling_below_15_percent_stops_the_share_with_a_notification(
        self, home: Home, controller: Controller, recorder: Recorder
    ) -> None:
        await controller.send("tablet", "simulate.wifi", {"link": "down"})
        await home.clock.sleep(1)
        assert controller.flows == {}  # auto_share is off: it waits to be asked
        asked = await controller.send("tablet", "network.request_share", {})
        assert asked == {"intent": "network_share", "args": {"tablet": "tablet"}}
        await home.clock.sleep(1)
        (flow,) = controller.flows.values()
        await controller.send("tablet", "simulate.traffic", {"mb_per_h": 600})
        started = home.clock.now()

        status = await controller.wait_flow(flow.id, timeout_s=3600)
        assert status.state == "succeeded", status.error
        assert status.result is not None, status
        result = status.result
        assert result["ended_because"] == "phone_battery_low"
        assert result["phone_battery_pct"] == 15.0
        assert home.clock.now() - started == pytest.approx(5 / 13 * 3600, abs=1.5)
        assert result["used_mb"] == pytest.approx(600 * 5 / 13, abs=0.3)
        await controller.synced()
        phone = state(controller, "phone")
        assert phone["hotspot"]["on"] is False
        note = phone["notifications"][-1]
        assert (note["title"], note["app"]) == ("Hotspot turned off", "hotspot")
        assert "15.0 %" in note["body"]
        assert "Alice's tablet" in note["body"]
        tablet = state(controller, "tablet")
        assert (tablet["online"], tablet["uplink"]) == (False, "none")

        await home.clock.sleep(600)  # idle again at 1 %/h: below 15 % in the phone's next state
        await controller.synced()
        level = state(controller, "phone")["battery_pct"]
        assert level < 15
        await controller.send("tablet", "network.request_share", {})
        await home.clock.sleep(1)
        refused = recorder.json_on("/$orchestrator/event/intent_refused")[-1]
        assert refused["reason"] == f"phone's battery is at {level:g} %, below 15 %"


async def test_phone_going_offline_takes_the_tablet_offline_and_fails_the_share(
    home: Home, controller: Controller
) -> None:
    flow_id = await share_started_by_the_tablet(home, controller)
    await home.devices["phone"].stop()
    status = await controller.wait_flow(flow_id, timeout_s=10)
    assert status.state == "failed"
    assert status.error == "phone went offline: tablet lost its connection through the hotspot"
    await controller.synced()
    tablet = state(controller, "tablet")
    assert (tablet["online"], tablet["uplink"]) == (False, "none")


async def test_cancelling_stops_the_hotspot_and_the_tablet_forgets_it(
    home: Home, controller: Controller, recorder: Recorder
) -> None:
    flow_id = await share_started_by_the_tablet(home, controller)
    await controller.cancel_flow(flow_id)
    status = await controller.wait_flow(flow_id, timeout_s=10)
    assert (status.state, status.error) == ("cancelled", "cancelled by request")
    await home.clock.sleep(1)
    await controller.synced()
    assert state(controller, "phone")["hotspot"]["on"] is False
    assert state(controller, "tablet")["online"] is False
    (offline,) = recorder.json_on("/tablet/event/offline")[1:]
    assert offline["reason"] == "hotspot Alice's phone stopped: cancelled by request"
    await controller.send("tablet", "simulate.wifi", {"ssid": "cafe-guest", "link": "down"})
    await controller.send("tablet", "simulate.wifi", CAFE)
    await home.clock.sleep(1)
    again = [s for s in controller.flows.values() if s.id != flow_id]
    assert again == []  # no asking loop: only a Wi-Fi loss that takes it offline makes it ask by itself


async def test_the_hotspot_turned_off_on_the_phone_ends_the_share_and_says_so_on_the_tablet(
    home: Home, controller: Controller, recorder: Recorder
) -> None:
    flow_id = await share_started_by_the_tablet(home, controller)
    await controller.send("tablet", "simulate.traffic", {"mb_per_h": 360})
    await home.clock.sleep(600)
    await controller.send("phone", "hotspot.stop")  # Alice turns it off in the phone's settings
    status = await controller.wait_flow(flow_id, timeout_s=10)
    assert (status.state, (status.result or {})["ended_because"]) == ("succeeded", "hotspot_stopped")
    assert (status.result or {})["used_mb"] == 60.0  # from the phone's hotspot_stopped event
    await controller.synced()
    assert state(controller, "tablet")["online"] is False
    assert (
        recorder.json_on("/tablet/event/offline")[-1]["reason"] == "hotspot Alice's phone was turned off on the phone"
    )


async def test_the_tablet_going_offline_ends_the_share_and_the_hotspot(home: Home, controller: Controller) -> None:
    flow_id = await share_started_by_the_tablet(home, controller)
    await home.devices["tablet"].stop()
    status = await controller.wait_flow(flow_id, timeout_s=10)
    assert (status.state, (status.result or {})["ended_because"]) == ("succeeded", "tablet_offline")
    await controller.synced()
    assert state(controller, "phone")["hotspot"] == {"on": False, "ssid": None, "clients": []}


# -- who may, and when it cannot ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ({"tablet": "tablet"}, "forbidden", "say who asks (user)"),
        ({"tablet": "tablet", "user": "bob"}, "forbidden", "tablet is not bob's (its owner: alice)"),
        ({"tablet": "tablet", "phone": "bob-phone", "user": "alice"}, "forbidden", "bob-phone is not alice's"),
        ({"tablet": "laptop", "user": "alice"}, "forbidden", "laptop is not alice's (its owner: nobody)"),
        ({"tablet": "car", "user": "alice"}, "rejected", "car is not a device that can join a hotspot"),
        ({"tablet": "tablet", "phone": "speaker", "user": "alice"}, "rejected", "speaker is not a phone"),
        ({"tablet": "tablet", "user": "alice"}, "rejected", "tablet is online through Wi-Fi home-5g"),
        ({"tablet": "tablet", "user": "carol"}, "forbidden", "'carol' is not a resident"),
        ({"tablet": "tablet", "user": "alice", "password": "mine-mine"}, "invalid_args", "password: Extra inputs"),
        ({}, "invalid_args", "tablet: Field required"),
    ],
)
async def test_only_the_owner_with_her_own_phone_and_tablet(
    controller: Controller, args: dict[str, Any], code: str, message: str
) -> None:
    reply = await controller.request("$orchestrator", "network_share", args)
    assert reply.error is not None
    assert (reply.error.code, message in reply.error.message) == (code, True), reply.error.message


async def test_a_refused_request_from_the_tablet_is_published_with_its_reason(
    home: Home, controller: Controller, recorder: Recorder
) -> None:
    await controller.send("phone", "simulate.signal", {"dbm": None})  # no service where she is
    await controller.send("tablet", "simulate.wifi", CAFE)
    await home.clock.sleep(1)
    (refused,) = recorder.json_on("/$orchestrator/event/intent_refused")
    assert (refused["device"], refused["intent"], refused["user"]) == ("tablet", "network_share", "alice")
    assert refused["reason"] == "phone has no cellular service"
    assert controller.flows == {}


# -- a hotspot that is already on -----------------------------------------------------------------------
async def test_a_hotspot_left_on_with_nobody_on_it_is_restarted_with_new_credentials(
    home: Home, controller: Controller, recorder: Recorder
) -> None:
    by_hand = await controller.send("phone", "hotspot.start", {})
    flow_id = await share_started_by_the_tablet(home, controller)
    (start,) = controller.flows[flow_id].steps[:1]
    assert start.detail["restarted"] is True
    (sent,) = recorder.json_on("/phone/cmd/hotspot.start")[1:]
    assert sent["args"]["password"] != by_hand["password"]
    assert state(controller, "tablet")["uplink"] == "hotspot"


async def test_a_hotspot_already_serving_another_device_is_not_taken_over(home: Home, controller: Controller) -> None:
    await controller.send("phone", "hotspot.start", {})
    await controller.send("phone", "hotspot.admit", {"client": "laptop"})
    await controller.send("tablet", "simulate.wifi", {"link": "down"})
    reply = await controller.request("$orchestrator", "network_share", {"tablet": "tablet", "user": "alice"})
    assert reply.error is not None
    assert reply.error.code == "rejected"
    assert "already on for laptop" in reply.error.message


class TestTwoDevicesOnOnePhone:
    @pytest.fixture
    def plan(self) -> HomeFile:
        home = load_home("demo")
        home.device("laptop").owner = "alice"
        return home

    async def test_they_share_one_hotspot_which_stops_when_the_last_one_is_done(
        self, home: Home, controller: Controller
    ) -> None:
        tablet_share = await share_started_by_the_tablet(home, controller)
        await controller.send("laptop", "simulate.wifi", {"link": "down"})
        laptop_share = await controller.start_flow("network_share", {"tablet": "laptop", "user": "alice"})
        status = await controller.wait_flow(laptop_share, sharing, timeout_s=10)
        assert status.steps[0].detail["shared"] is True
        await controller.synced()
        assert [c["id"] for c in state(controller, "phone")["hotspot"]["clients"]] == ["tablet", "laptop"]
        assert state(controller, "laptop")["uplink"] == "hotspot"

        await controller.send("tablet", "simulate.wifi", HOME_WIFI)
        assert (await controller.wait_flow(tablet_share, timeout_s=10)).state == "succeeded"
        await controller.synced()
        phone = state(controller, "phone")
        assert phone["hotspot"]["on"] is True  # the laptop still uses it
        assert [c["id"] for c in phone["hotspot"]["clients"]] == ["laptop"]

        await controller.send("laptop", "simulate.wifi", HOME_WIFI)
        done = await controller.wait_flow(laptop_share, timeout_s=10)
        assert (done.result or {})["ended_because"] == "tablet_on_known_wifi"
        await controller.synced()
        assert state(controller, "phone")["hotspot"]["on"] is False
