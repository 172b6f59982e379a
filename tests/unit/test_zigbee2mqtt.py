"""Zigbee2MQTT derivations (exposes, /set plans) and the bridge's place in the one ACL table."""

from __future__ import annotations

from typing import Literal, get_origin

import pytest

from hyperhome.broker.acl import Policy
from hyperhome.broker.credentials import HomeCredentials
from hyperhome.conventions.zigbee2mqtt import plain_value, plan_set, view_of, z2m_state
from hyperhome.devices.air_conditioner import AcState, AirConditioner
from hyperhome.devices.catalog import KINDS
from hyperhome.devices.lock import Lock


@pytest.fixture
def policy() -> Policy:
    creds = HomeCredentials.generate("demo", ["living-ac", "door-lock"], zigbee2mqtt=True)
    policy = Policy()
    for login, principal in creds.logins():
        policy.add(login.username, principal)
    return policy


def test_only_the_bridge_and_controllers_reach_the_zigbee2mqtt_topics(policy: Policy) -> None:
    bridge, controller, device = "demo.$zigbee2mqtt", "demo.$controller", "demo.living-ac"
    assert policy.may_publish(bridge, "zigbee2mqtt/Front door lock")
    assert policy.may_publish(bridge, "hyperhome/demo/door-lock/cmd/unlock")
    assert not policy.may_publish(bridge, "hyperhome/demo/door-lock/state")  # it cannot fake a device
    assert policy.may_subscribe(bridge, "hyperhome/demo/+/state")
    assert not policy.may_subscribe(bridge, "hyperhome/demo/+/cmd/#")  # nor read others' commands
    assert policy.may_publish(controller, "zigbee2mqtt/Front door lock/set")
    assert policy.may_publish(controller, "zigbee2mqtt/bridge/request/health_check")
    assert not policy.may_publish(controller, "zigbee2mqtt/Front door lock")  # state is the bridge's
    assert not policy.may_publish(controller, "zigbee2mqtt/bridge/devices")
    # a device may not drive another through the bridge: a camera cannot unlock the door
    assert not policy.may_publish(device, "zigbee2mqtt/Front door lock/set")
    assert not policy.may_subscribe(device, "zigbee2mqtt/#")


def test_no_bridge_login_unless_asked() -> None:
    creds = HomeCredentials.generate("demo", ["living-ac"])
    assert creds.zigbee2mqtt is None
    assert all(login.username != "demo.$zigbee2mqtt" for login, _ in creds.logins())


def test_a_field_added_to_a_model_is_exposed_and_settable_through_set() -> None:
    class MoreState(AcState):
        humidity_pct: int = 50
        """Relative humidity."""

    class MoreAc(AirConditioner):
        kind = "more_ac"
        State = MoreState

    expose = next(e for e in view_of(MoreAc).exposes if e.get("property") == "humidity_pct")
    assert (expose["type"], expose["unit"], expose["access"], expose["description"]) == (
        "numeric",
        "%",
        5,
        "Relative humidity.",
    )


def test_every_state_field_but_objects_and_lists_is_exposed() -> None:
    for kind in KINDS.values():
        exposed = {e["property"] for e in view_of(kind).exposes if "property" in e}
        for name, field in kind.State.model_fields.items():
            plain = field.annotation in (bool, int, float, str) or get_origin(field.annotation) is Literal
            if plain:
                assert name in exposed, (kind.kind, name)


def test_set_merges_keys_of_one_command_and_reports_the_rest() -> None:
    commands, problems = plan_set(AirConditioner, {"power": True, "target_c": 24, "room_temp_c": 3})
    assert commands == [("set", {"power": True, "target_c": 24})]
    assert problems == ["no converter for 'room_temp_c': air_conditioner cannot set it"]
    commands, _ = plan_set(AirConditioner, {"system_mode": "fan_only"})
    assert commands == [("set", {"power": True, "mode": "fan"})]
    commands, problems = plan_set(AirConditioner, {"system_mode": "sauna"})
    assert commands == []
    assert "system_mode is one of off, cool, heat, dry, fan_only, auto" in problems
    commands, _ = plan_set(Lock, {"state": "LOCK"})
    assert commands == [("set", {"locked": True})]  # rule 1: the lock's set (the one Home Assistant drives)


def test_state_carries_the_specific_exposes_keys() -> None:
    state = {"locked": True, "jammed": True, "door_open": False, "ts": "2026-06-01T18:00:00Z", "seq": 3}
    body = z2m_state(Lock, state)
    assert (body["state"], body["lock_state"], body["last_seen"]) == ("LOCK", "not_fully_locked", state["ts"])
    assert "seq" not in body


@pytest.mark.parametrize(
    ("payload", "value"), [(b"ON", "ON"), (b"true", True), (b"22.5", 22.5), (b'"cool"', "cool"), (b"[1]", "[1]")]
)
def test_plain_values(payload: bytes, value: object) -> None:
    assert plain_value(payload) == value
