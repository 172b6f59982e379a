"""Zigbee2MQTT conformance: an outside MQTT client, written as a Zigbee2MQTT app would be, on both brokers.

The payload shapes checked here are those of Zigbee2MQTT's documentation (guide/usage/
mqtt_topics_and_messages.md and exposes.md): ``bridge/state`` and availability as
``{"state": "online"}``, ``bridge/devices`` entries with ``definition.exposes`` (generic exposes
with ``type``, ``name``, ``label``, ``property``, ``access`` bits; specific ones with
``features``), ``/set`` JSON and ``/set/{attribute}`` plain values, ``/get``, and bridge
responses ``{"data", "status", "error"?, "transaction"?}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiomqtt
import pytest

from hyperhome.home.homefile import load_home
from hyperhome.home.runtime import Home

WAIT_S = 20.0
GENERIC = {"binary", "numeric", "enum", "text"}
SPECIFIC = {"climate", "lock"}


class App:
    """An outside client subscribed to ``zigbee2mqtt/#``: every message, and waits on them."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.seen: list[tuple[str, Any]] = []
        self._changed = asyncio.Condition()

    async def run(self) -> None:
        async for message in self.client.messages:
            assert isinstance(message.payload, bytes)
            try:
                body = json.loads(message.payload)
            except ValueError:
                body = message.payload.decode()
            async with self._changed:
                self.seen.append((str(message.topic), body))
                self._changed.notify_all()

    async def wait(self, topic: str, ok: Callable[[Any], bool] = lambda _: True, *, after: int = 0) -> Any:
        """The first payload on ``topic`` (from index ``after``) that ``ok`` accepts."""
        async with asyncio.timeout(WAIT_S), self._changed:
            while True:
                for seen_topic, body in self.seen[after:]:
                    if seen_topic == topic and ok(body):
                        return body
                await self._changed.wait()

    async def send(self, topic: str, payload: Any) -> int:
        """Publish; returns the index from which replies to it are to be looked for."""
        mark = len(self.seen)
        text = payload if isinstance(payload, str) else json.dumps(payload)
        await self.client.publish(topic, text, qos=1)
        return mark


@pytest.fixture
async def home(broker_kind: str) -> AsyncIterator[Home]:
    async with Home(load_home("demo"), broker=broker_kind, speed=1.0, zigbee2mqtt=True) as running:
        yield running


@pytest.fixture
async def app(home: Home) -> AsyncIterator[App]:
    assert home.credentials is not None
    assert home.endpoint is not None
    login = home.credentials.controller  # an app logs in as the home's controller (a user's tool)
    client = aiomqtt.Client(
        home.endpoint.host,
        home.endpoint.port,
        username=login.username,
        password=login.password,
        identifier=login.username,
        protocol=aiomqtt.ProtocolVersion.V311,
        timeout=WAIT_S,
    )
    async with client:
        await client.subscribe("zigbee2mqtt/#", qos=1)
        watcher = App(client)
        task = asyncio.create_task(watcher.run())
        try:
            yield watcher
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _check_expose(expose: dict[str, Any]) -> None:
    if expose["type"] in SPECIFIC:
        assert expose["features"]
        for feature in expose["features"]:
            _check_expose(feature)
        return
    assert expose["type"] in GENERIC, expose
    assert {"name", "label", "property", "access"} <= set(expose)
    assert 0 < expose["access"] <= 7
    if expose["access"] & 4:  # gettable is also published (exposes.md, "Access")
        assert expose["access"] & 1
    if expose["type"] == "binary":
        assert {"value_on", "value_off"} <= set(expose)
    if expose["type"] == "enum":
        assert expose["values"]


def _feature(exposes: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    specific = next(e for e in exposes if e["type"] == kind)
    found: dict[str, Any] = next(f for f in specific["features"] if f["name"] == name)
    return found


async def test_an_app_lists_the_devices_switches_the_ac_and_reads_it_back(home: Home, app: App) -> None:
    plan = home.plan
    assert await app.wait("zigbee2mqtt/bridge/state") == {"state": "online"}
    info = await app.wait("zigbee2mqtt/bridge/info")
    assert info["permit_join"] is False
    assert info["config"]["mqtt"]["base_topic"] == "zigbee2mqtt"
    devices = await app.wait("zigbee2mqtt/bridge/devices", lambda body: len(body) == len(plan.devices))
    by_name = {d["friendly_name"]: d for d in devices}
    assert set(by_name) == {spec.name for spec in plan.devices}
    for device in devices:
        assert device["ieee_address"].startswith("0x")
        assert len(device["ieee_address"]) == 18
        assert device["supported"] is True
        assert device["interview_completed"] is True
        for expose in device["definition"]["exposes"]:
            _check_expose(expose)
    ac = by_name["Living room AC"]["definition"]["exposes"]
    target = next(e for e in ac if e.get("property") == "target_c")
    assert (target["type"], target["value_min"], target["value_max"], target["unit"], target["access"]) == (
        "numeric",
        16,
        30,
        "°C",
        7,
    )
    room = next(e for e in ac if e.get("property") == "room_temp_c")
    assert room["access"] == 5  # published and gettable, not settable
    mode = _feature(ac, "climate", "system_mode")
    assert mode["values"] == ["off", "cool", "heat", "dry", "fan_only", "auto"]
    assert _feature(ac, "climate", "local_temperature")["property"] == "room_temp_c"
    lock = by_name["Front door lock"]["definition"]["exposes"]
    assert _feature(lock, "lock", "state")["value_on"] == "LOCK"
    assert await app.wait("zigbee2mqtt/Living room AC/availability") == {"state": "online"}

    mark = await app.send("zigbee2mqtt/Living room AC/set", {"power": True, "target_c": 24})
    state = await app.wait("zigbee2mqtt/Living room AC", lambda s: s["power"] and s["target_c"] == 24, after=mark)
    assert state["system_mode"] == "cool"
    assert (home.devices["living-ac"].state.power, home.devices["living-ac"].state.target_c) == (True, 24)

    mark = await app.send("zigbee2mqtt/Living room AC/set/system_mode", "off")
    state = await app.wait("zigbee2mqtt/Living room AC", lambda s: not s["power"], after=mark)
    assert state["system_mode"] == "off"
    mark = await app.send("zigbee2mqtt/Living room AC/set/target_c", "22.5")
    await app.wait("zigbee2mqtt/Living room AC", lambda s: s["target_c"] == 22.5, after=mark)

    mark = await app.send("zigbee2mqtt/Living room AC/get", {"target_c": ""})
    state = await app.wait("zigbee2mqtt/Living room AC", after=mark)
    assert state["target_c"] == 22.5
    assert "last_seen" in state


async def test_the_lock_a_refused_set_and_bridge_requests(home: Home, app: App) -> None:
    await app.wait("zigbee2mqtt/bridge/devices", lambda body: len(body) == len(home.plan.devices))
    mark = await app.send("zigbee2mqtt/Front door lock/set", {"state": "UNLOCK"})
    state = await app.wait("zigbee2mqtt/Front door lock", lambda s: s["state"] == "UNLOCK", after=mark)
    assert (state["locked"], state["lock_state"]) == (False, "unlocked")
    assert home.devices["door-lock"].state.locked is False

    mark = await app.send("zigbee2mqtt/Living room AC/set", {"room_temp_c": 5})
    logged = await app.wait("zigbee2mqtt/bridge/logging", after=mark)
    assert logged["level"] == "error"
    assert "room_temp_c" in logged["message"]
    mark = await app.send("zigbee2mqtt/Living room AC/set", {"target_c": 99})  # the AC's own validation
    logged = await app.wait("zigbee2mqtt/bridge/logging", after=mark)
    assert "invalid_args" in logged["message"]
    assert home.devices["living-ac"].state.target_c == 26

    mark = await app.send("zigbee2mqtt/bridge/request/health_check", {"transaction": "t-1"})
    response = await app.wait("zigbee2mqtt/bridge/response/health_check", after=mark)
    assert response == {"data": {"healthy": True}, "status": "ok", "transaction": "t-1"}
    mark = await app.send("zigbee2mqtt/bridge/request/permit_join", {"value": True, "transaction": 23})
    response = await app.wait("zigbee2mqtt/bridge/response/permit_join", after=mark)
    assert (response["status"], response["data"], response["transaction"]) == ("error", {}, 23)
    assert "permit_join" in response["error"]

    mark = len(app.seen)
    await home.devices["speaker"].stop()
    offline = await app.wait("zigbee2mqtt/Living room speaker/availability", after=mark)
    assert offline == {"state": "offline"}


async def test_in_virtual_time_the_bridge_is_a_barrier_member_and_time_still_moves(broker_kind: str) -> None:
    """The bridge takes part in the virtual clock's barrier like any in-process client: a scenario
    with ``zigbee2mqtt: true`` runs, and what the bridge publishes for a command is there at once."""
    plan = load_home("demo").model_copy(update={"zigbee2mqtt": True})
    async with Home(plan, broker=broker_kind) as home, home.controller() as ctl:
        assert home.zigbee2mqtt is not None
        seen: list[tuple[str, bytes]] = []
        await ctl.bus.subscribe("zigbee2mqtt/#", lambda m: seen.append((m.topic, m.payload)))
        await ctl.send("living-ac", "set", {"power": True, "target_c": 24})
        await home.clock.sleep(600)
        mirrored = [json.loads(p) for t, p in seen if t == "zigbee2mqtt/Living room AC"]
        assert mirrored
        assert mirrored[-1]["power"] is True
        assert mirrored[-1]["room_temp_c"] < 31.0  # ten simulated minutes of cooling, mirrored
        assert home.zigbee2mqtt.states["living-ac"]["power"] is True
