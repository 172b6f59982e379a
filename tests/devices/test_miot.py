"""MIoT spec ids and the get_properties / set_properties / action commands, on every kind."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hyperhome.devices.air_conditioner import AcState, AirConditioner
from hyperhome.devices.catalog import KINDS
from hyperhome.devices.lock import Lock
from hyperhome.devices.miot import MIOT_COMMANDS, spec_of
from hyperhome.devices.speaker import Speaker
from hyperhome.devices.testing import DeviceHarness


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_field_command_and_event_has_unique_ids(name: str) -> None:
    kind = KINDS[name]
    meta = spec_of(kind).meta
    assert meta["type"].startswith("urn:miot-spec-v2:device:")
    assert set(meta["properties"]) == set(kind.State.model_fields)
    assert set(meta["actions"]) == set(kind.commands) - set(MIOT_COMMANDS)
    assert set(meta["events"]) == set(kind.events)
    for group, key in (("properties", "piid"), ("actions", "aiid"), ("events", "eiid")):
        ids = [(e["siid"], e[key]) for e in meta[group].values()]
        assert len(ids) == len(set(ids)), group
        assert all(siid >= 2 for siid, _ in ids)  # siid 1 is device-information
    assert meta["services"][0] == {"siid": 1, "type": "device-information"}


def test_a_field_added_to_a_model_gets_ids_without_a_declaration() -> None:
    class MoreState(AcState):
        humidity_pct: float = 50.0

    class MoreAc(AirConditioner):
        kind = "more_ac"
        State = MoreState

    entry = spec_of(MoreAc).meta["properties"]["humidity_pct"]
    hyperhome = next(s for s in spec_of(MoreAc).meta["services"] if s["type"] == "hyperhome")
    assert entry["siid"] == hyperhome["siid"]
    assert entry["unit"] == "percentage"
    assert entry["access"] == ["read", "notify"]


def test_the_air_conditioner_follows_the_miot_air_conditioner_service() -> None:
    meta = spec_of(AirConditioner).meta
    assert meta["type"].startswith("urn:miot-spec-v2:device:air-conditioner:0000A004:")
    assert meta["services"][1] == {"siid": 2, "type": "air-conditioner"}
    power = meta["properties"]["power"]
    assert (power["siid"], power["piid"], power["type"], power["format"]) == (2, 1, "on", "bool")
    assert meta["properties"]["target_c"]["value-range"] == [16, 30, 0.1]
    assert meta["properties"]["target_c"]["unit"] == "celsius"


def _prop(kind: Any, field: str) -> dict[str, Any]:
    entry = spec_of(kind).meta["properties"][field]
    return {"siid": entry["siid"], "piid": entry["piid"]}


async def test_set_then_get_properties_drive_the_air_conditioner() -> None:
    mode = spec_of(AirConditioner).meta["properties"]["mode"]
    heat = next(v["value"] for v in mode["value-list"] if v["description"] == "heat")
    async with DeviceHarness(AirConditioner) as ac:
        params = [
            {**_prop(AirConditioner, "power"), "value": True},
            {**_prop(AirConditioner, "target_c"), "value": 22.5},
            {**_prop(AirConditioner, "mode"), "value": heat},
            {**_prop(AirConditioner, "room_temp_c"), "value": 10},  # read-only
            {"siid": 99, "piid": 1, "value": 1},
            {**_prop(AirConditioner, "target_c"), "value": 45},  # out of range
            {**_prop(AirConditioner, "mode"), "value": 17},  # no such option
        ]
        result = await ac.ok("set_properties", {"params": params})
        assert [r["code"] for r in result["results"]] == [0, 0, 0, -4002, -4003, -4005, -4005]
        assert (ac.state.power, ac.state.target_c, ac.state.mode) == (True, 22.5, "heat")
        got = await ac.ok(
            "get_properties",
            {"params": [_prop(AirConditioner, "power"), _prop(AirConditioner, "mode"), {"siid": 1, "piid": 3}]},
        )
        assert [(r["code"], r["value"]) for r in got["results"]] == [(0, True), (0, heat), (0, "dut")]
        assert ac.published("state")  # the writes went out as state, through the AC's own set


async def test_get_properties_echoes_did_and_reports_a_missing_property() -> None:
    async with DeviceHarness(Speaker) as speaker:
        got = await speaker.ok(
            "get_properties", {"params": [{"did": "s1", "siid": 2, "piid": 1}, {"siid": 9, "piid": 9}]}
        )
        assert got["results"] == [
            {"did": "s1", "siid": 2, "piid": 1, "code": 0, "value": 40},
            {"siid": 9, "piid": 9, "code": -4003},
        ]


async def test_action_runs_the_command_and_refusals_are_codes() -> None:
    unlock = spec_of(Lock).meta["actions"]["unlock"]
    lock = spec_of(Lock).meta["actions"]["lock"]
    jam = spec_of(Lock).meta["actions"]["simulate.jam"]
    async with DeviceHarness(Lock) as door:
        done = await door.ok("action", {"siid": unlock["siid"], "aiid": unlock["aiid"], "in": ["app"]})
        assert done["code"] == 0
        assert door.state.locked is False
        bad = await door.ok("action", {"siid": unlock["siid"], "aiid": unlock["aiid"], "in": ["pin"]})
        assert bad["code"] == -4006  # method pin needs a pin
        await door.ok("action", {"siid": jam["siid"], "aiid": jam["aiid"]})
        refused = await door.ok("action", {"siid": lock["siid"], "aiid": lock["aiid"]})
        assert refused["code"] == -4004
        assert "jam" in refused["message"]
        assert (await door.ok("action", {"siid": 42, "aiid": 1}))["code"] == -4003


async def test_a_switch_field_is_written_through_its_commands() -> None:
    async with DeviceHarness(Lock) as door:
        result = await door.ok("set_properties", {"params": [{**_prop(Lock, "locked"), "value": False}]})
        assert result["results"][0]["code"] == 0
        assert door.state.locked is False
        (event,) = door.events("unlocked")
        assert event["by"] == "app"


async def test_miot_is_in_meta() -> None:
    async with DeviceHarness(Lock) as door:
        (meta,) = door.published("$meta")
        assert json.loads(meta.payload)["miot"] == spec_of(Lock).meta
