"""Home Assistant discovery derived from the models, and the rights it comes with.

The derivation is checked on kinds made here (a field added to a model is an entity, with its
unit and limits from the model) and on the shipped ones; the rights in the one ACL table on the
Policy and on both real brokers (a device writes its own configs only; Home Assistant sends the
commands its entities map and nothing else).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar, Literal

import aiomqtt
import pytest
from pydantic import ConfigDict, Field

from hyperhome.broker.acl import Policy
from hyperhome.broker.credentials import HomeCredentials
from hyperhome.broker.embedded import EmbeddedBroker
from hyperhome.broker.mosquitto import MosquittoBroker
from hyperhome.broker.topics import Topics, discovery_hub, discovery_node
from hyperhome.conventions import homeassistant
from hyperhome.devices import catalog
from hyperhome.devices.base import Args, Device, DeviceState, Omittable, command
from hyperhome.home.homefile import load_home

# -- the derivation ------------------------------------------------------------------------------


class HeaterState(DeviceState):
    power: bool = False
    mode: Literal["heat", "fan"] = "heat"
    target_c: float = Field(20.0, ge=5, le=28, json_schema_extra={"step": 0.5})
    room_temp_c: float = 18.0
    humidity_pct: float = Field(40.0, ge=0, le=100)
    child_lock: bool = False
    eta: str | None = None


class HeaterSet(Args):
    model_config = ConfigDict(json_schema_extra={"minProperties": 1})
    power: Omittable[bool] = None
    mode: Omittable[Literal["heat", "fan"]] = None
    target_c: Omittable[float] = Field(None, ge=5, le=28)
    child_lock: Omittable[bool] = None


class Heater(Device):
    kind = "heater"
    State = HeaterState
    events: ClassVar[dict[str, str]] = {"motion": "someone walked by"}

    @command("set", HeaterSet)
    async def set(self, args: HeaterSet) -> dict[str, Any]:
        """Set things."""
        return {}


def _by_key(kind: type[Device]) -> dict[str, homeassistant.EntityPlan]:
    return {plan.key or plan.component: plan for plan in homeassistant.entities(kind)}


def test_a_kind_becomes_entities_by_its_model() -> None:
    plans = _by_key(Heater)
    climate = plans["climate"].config
    assert climate["modes"] == ["off", "heat", "fan_only"]
    assert (climate["min_temp"], climate["max_temp"], climate["temp_step"]) == (5, 28, 0.5)
    assert climate["current_temperature_template"] == "{{ value_json.room_temp_c }}"
    assert "fan_modes" not in climate  # the model has no fan
    assert plans["climate"].commands == ("set",)
    humidity = plans["humidity_pct"]
    assert humidity.component == "sensor"
    assert humidity.config["unit_of_measurement"] == "%"
    assert humidity.name == "Humidity"
    assert plans["child_lock"].component == "switch"  # the set command sets it alone
    assert json.loads(plans["child_lock"].config["payload_on"]) == {"args": {"child_lock": True}}
    assert plans["eta"].config["device_class"] == "timestamp"
    assert plans["motion"].component == "binary_sensor"
    assert plans["motion"].config["state_topic"] == "event/motion"
    assert "power" not in plans  # the climate shows it


def test_a_field_added_to_a_model_is_an_entity() -> None:
    class MoreState(HeaterState):
        co2_ppm: int = 400
        filter_dirty: bool = False

    class Heater2(Heater):
        kind = "heater2"
        State = MoreState

    added = set(_by_key(Heater2)) - set(_by_key(Heater))
    assert added == {"co2_ppm", "filter_dirty"}
    assert _by_key(Heater2)["filter_dirty"].component == "binary_sensor"


def test_the_shipped_kinds_are_the_platforms_a_person_expects() -> None:
    def components(kind: str) -> set[str]:
        return {p.component for p in homeassistant.entities(catalog.kind(kind))}

    assert "climate" in components("air_conditioner")
    assert "lock" in components("lock")
    assert {"camera", "binary_sensor", "switch"} <= components("camera")
    assert "device_tracker" in components("phone")
    assert "device_tracker" in components("car")
    car = _by_key(catalog.kind("car"))
    assert car["range_km"].config["unit_of_measurement"] == "km"
    assert car["eta"].config["device_class"] == "timestamp"
    assert _by_key(catalog.kind("phone"))["data_used_mb"].config["device_class"] == "data_size"
    assert _by_key(catalog.kind("phone"))["battery_pct"].config["device_class"] == "battery"
    assert _by_key(catalog.kind("air_conditioner"))["energy_kwh"].config["state_class"] == "total_increasing"
    lock = _by_key(catalog.kind("lock"))["lock"].config
    assert "JAMMED" in lock["value_template"]
    assert lock["command_topic"] == "cmd/set"


def test_every_command_an_entity_sends_is_one_the_kind_has() -> None:
    for kind in catalog.KINDS.values():
        for plan in homeassistant.entities(kind):
            for name in plan.commands:
                assert name in kind.commands
            for key, value in plan.config.items():
                if key.endswith("command_topic"):
                    assert value.removeprefix("cmd/") in plan.commands


def test_device_configs_carry_the_device_and_its_availability() -> None:
    plan = load_home("demo")
    spec = plan.device("living-ac")
    topics = Topics(plan.home, plan.root)
    configs = homeassistant.configs(spec, topics)
    topic, payload = configs[0]
    assert topic == f"homeassistant/climate/{discovery_node('demo', 'living-ac')}/climate/config"
    assert payload["availability_topic"] == "hyperhome/demo/living-ac/$availability"
    assert payload["mode_command_topic"] == "hyperhome/demo/living-ac/cmd/set"
    device = payload["device"]
    assert device["identifiers"] == ["hyperhome.demo.living-ac"]
    assert device["suggested_area"] == "Living"
    assert device["via_device"] == "hyperhome.demo"
    assert device["name"] == "Living room AC"
    assert len({p["unique_id"] for _, p in configs}) == len(configs)


def test_discovery_nodes_never_meet() -> None:
    pairs = [("a_b", "c"), ("a", "b_c"), ("a", "b"), ("a_b_c", "d")]
    nodes = [discovery_node(h, d) for h, d in pairs] + [discovery_hub(h) for h, _ in pairs]
    assert len(set(nodes)) == len(set(pairs)) + len({h for h, _ in pairs})


# -- the rights ------------------------------------------------------------------------------------


@pytest.fixture
def creds() -> HomeCredentials:
    plan = load_home("demo")
    creds = HomeCredentials.generate(plan.home, [d.id for d in plan.devices])
    creds.add_home_assistant("homeassistant", homeassistant.commands(plan.devices))
    return creds


@pytest.fixture
def policy(creds: HomeCredentials) -> Policy:
    policy = Policy()
    for login, principal in creds.logins():
        policy.add(login.username, principal)
    return policy


def test_home_assistant_sends_only_the_commands_its_entities_map(policy: Policy, creds: HomeCredentials) -> None:
    ha = "demo.$home_assistant"
    assert creds.home_assistant is not None
    assert "door-lock/set" in creds.home_assistant.commands
    assert policy.may_publish(ha, "hyperhome/demo/door-lock/cmd/set")
    assert policy.may_publish(ha, "hyperhome/demo/living-ac/cmd/set")
    assert policy.may_publish(ha, "hyperhome/demo/door-camera/cmd/privacy")
    assert not policy.may_publish(ha, "hyperhome/demo/door-lock/cmd/unlock")  # PINs, fingerprints: not HA's
    assert not policy.may_publish(ha, "hyperhome/demo/door-camera/cmd/simulate.motion")
    assert not policy.may_publish(ha, "hyperhome/demo/phone/cmd/hotspot.start")
    assert not policy.may_publish(ha, "hyperhome/demo/living-ac/state")
    assert policy.may_publish(ha, "homeassistant/status")
    assert policy.may_subscribe(ha, "hyperhome/demo/+/state")
    assert policy.may_subscribe(ha, "homeassistant/+/+/config")
    assert policy.may_subscribe(ha, "homeassistant/+/+/+/config")
    assert not policy.may_subscribe(ha, "hyperhome/demo/+/reply")  # replies may carry secrets
    assert not policy.may_subscribe(ha, "hyperhome/demo/#")


def test_a_device_writes_its_own_discovery_configs_only(policy: Policy) -> None:
    mine = f"homeassistant/climate/{discovery_node('demo', 'living-ac')}/climate/config"
    other = f"homeassistant/lock/{discovery_node('demo', 'door-lock')}/lock/config"
    assert policy.may_publish("demo.living-ac", mine)
    assert not policy.may_publish("demo.living-ac", other)
    assert policy.may_subscribe("demo.living-ac", "homeassistant/status")
    assert not policy.may_subscribe("demo.living-ac", "homeassistant/#")


def test_without_home_assistant_nobody_has_discovery_rights() -> None:
    policy = Policy()
    for login, principal in HomeCredentials.generate("demo", ["living-ac"]).logins():
        policy.add(login.username, principal)
    node = discovery_node("demo", "living-ac")
    assert not policy.may_publish("demo.living-ac", f"homeassistant/climate/{node}/climate/config")
    assert not policy.may_subscribe("demo.living-ac", "homeassistant/status")


async def test_both_brokers_enforce_the_home_assistant_rights(broker_kind: str, creds: HomeCredentials) -> None:
    broker = EmbeddedBroker([creds]) if broker_kind == "embedded" else MosquittoBroker([creds])
    assert creds.home_assistant is not None
    ha, lock, ac = creds.home_assistant, creds.device("door-lock"), creds.device("living-ac")
    async with broker:

        def client(login: Any) -> aiomqtt.Client:
            assert broker.port is not None
            return aiomqtt.Client(
                broker.host, broker.port, username=login.username, password=login.password, identifier=login.username
            )

        async with client(lock) as as_lock, client(ha) as as_ha, client(ac) as as_ac:
            await as_lock.subscribe("hyperhome/demo/door-lock/cmd/#", qos=1)
            await as_ha.subscribe("homeassistant/+/+/+/config", qos=1)
            # forbidden first, then allowed, each on one connection (so order is kept)
            await as_ha.publish("hyperhome/demo/door-lock/cmd/unlock", b"forged", qos=1)
            await as_ha.publish("hyperhome/demo/door-lock/cmd/set", b'{"args": {"locked": false}}', qos=1)
            other = f"homeassistant/lock/{discovery_node('demo', 'door-lock')}/lock/config"
            mine = f"homeassistant/climate/{discovery_node('demo', 'living-ac')}/climate/config"
            await as_ac.publish(other, b"forged", qos=1)
            await as_ac.publish(mine, b"{}", qos=1)
            got = {}
            async with asyncio.timeout(5):
                async for message in as_lock.messages:
                    got[str(message.topic)] = message.payload
                    break
                async for message in as_ha.messages:
                    got[str(message.topic)] = message.payload
                    break
            assert got == {"hyperhome/demo/door-lock/cmd/set": b'{"args": {"locked": false}}', mine: b"{}"}
