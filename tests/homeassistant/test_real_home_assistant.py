"""A real Home Assistant 2024.3.3 discovers and drives the demo home, on both brokers.

Through Home Assistant's own REST API: every entity the models say exists, with the state the
device has; climate temperature and HVAC mode, lock and unlock act on the devices; a device
that goes offline is unavailable. And every discovery payload passes Home Assistant's own
``DISCOVERY_SCHEMA`` with no key dropped. Runs under ``CI=true`` or ``HYPERHOME_HA=1``
(tests/homeassistant/harness.py); figures go to ``$HYPERHOME_HA_REPORT`` when set.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hyperhome.conventions import homeassistant
from hyperhome.devices import catalog
from hyperhome.home.homefile import load_home
from hyperhome.home.runtime import Home
from tests.homeassistant import harness

pytestmark = pytest.mark.timeout(400)


@dataclass(frozen=True)
class Expected:
    component: str
    payload: dict[str, Any]
    source: str


def _expected(home: Home) -> dict[str, Expected]:
    """entity id -> what HA must create, from the models."""
    assert home.ha_prefix is not None
    out = {}
    for spec in home.plan.devices:
        plans = homeassistant.entities(catalog.kind(spec.kind))
        configs = homeassistant.configs(spec, home.topics, home.ha_prefix)
        for plan, (_, payload) in zip(plans, configs, strict=True):
            out[f"{plan.component}.{payload['object_id']}"] = Expected(
                plan.component, payload, f"{spec.id}:{plan.source}"
            )
    name = home.plan.name or home.plan.home
    _, payload = homeassistant.hub_config(home.plan.home, name, home.topics, home.ha_prefix)
    out[f"binary_sensor.{payload['object_id']}"] = Expected("binary_sensor", payload, "$orchestrator:$availability")
    return out


def _null_source(home: Home, source: str) -> bool:
    """Whether the state field an entity shows is null now (so HA may say unknown); events too."""
    device, _, what = source.partition(":")
    if not what.startswith("state.") or "," in what:
        return not what.startswith("state.")
    value: Any = home.devices[device].state.model_dump(mode="json")
    for part in what.removeprefix("state.").split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value is None


def test_every_discovery_payload_passes_home_assistants_schemas() -> None:
    python = harness.ha_python()
    plan = load_home("demo")
    home = Home(plan, home_assistant="homeassistant")
    items = [(e.component, e.payload) for e in _expected(home).values()]
    assert {c for c, _ in items} >= {"climate", "lock", "camera", "device_tracker", "sensor", "binary_sensor"}
    assert harness.validate(python, items) == []


def test_validation_catches_what_home_assistant_ignores_or_rejects() -> None:
    python = harness.ha_python()
    ok = {"name": "x", "state_topic": "a/b", "unique_id": "u"}
    problems = harness.validate(
        python,
        [("sensor", ok), ("sensor", {**ok, "state_topc": "a/b"}), ("sensor", {**ok, "device_class": "freezing"})],
    )
    assert len(problems) == 2
    assert "state_topc" in problems[0]
    assert "rejected" in problems[1]


async def test_home_assistant_discovers_and_drives_the_home(broker_kind: str, tmp_path: Path) -> None:
    python = harness.ha_python()
    broker = broker_kind
    started = time.monotonic()
    async with Home(load_home("demo"), broker=broker, speed=1.0, home_assistant="homeassistant") as home:
        creds = home.credentials
        assert creds is not None
        assert creds.home_assistant is not None
        expected = _expected(home)
        async with harness.HomeAssistant(tmp_path / "ha", creds.host, creds.port, creds.home_assistant, python) as ha:
            ha_ready = time.monotonic()  # HA started, its MQTT entry loaded
            seen: dict[str, dict[str, Any]] = {}

            async def all_discovered() -> bool:
                # there, available, and showing a value wherever the device's state has one
                seen.clear()
                seen.update(await ha.states())
                return all(
                    e in seen
                    and seen[e]["state"] != "unavailable"
                    and (seen[e]["state"] != "unknown" or _null_source(home, x.source))
                    for e, x in expected.items()
                )

            await ha.until(all_discovered, 60, "every entity discovered, available, with its value")
            discovered_s = time.monotonic() - started
            after_ha_s = time.monotonic() - ha_ready
            states = await ha.states()
            mine = {e: s for e, s in states.items() if e in expected}

            # the right state: what each device's state says, read through HA's entities
            ac = home.devices["living-ac"].state
            climate = mine["climate.living_ac"]
            assert climate["state"] == "off"
            assert climate["attributes"]["temperature"] == ac.target_c
            assert climate["attributes"]["min_temp"] == 16
            assert climate["attributes"]["max_temp"] == 30
            assert climate["attributes"]["target_temp_step"] == 0.5
            assert set(climate["attributes"]["hvac_modes"]) == {"off", "cool", "heat", "dry", "fan_only", "auto"}
            assert climate["attributes"]["fan_modes"] == ["auto", "low", "medium", "high"]
            assert mine["lock.door_lock"]["state"] == "locked"
            assert mine["device_tracker.phone"]["state"] == "not_home"
            assert mine["device_tracker.car"]["attributes"]["place"] == "office"
            assert float(mine["sensor.phone_battery_pct"]["state"]) == pytest.approx(76, abs=1)
            assert mine["sensor.phone_battery_pct"]["attributes"]["device_class"] == "battery"
            assert mine["sensor.car_range_km"]["attributes"]["unit_of_measurement"] == "km"
            assert mine["switch.door_camera_privacy"]["state"] == "off"
            assert mine["number.speaker_volume_pct"]["state"] == "40"
            assert mine["sensor.car_profile"]["state"] == "unknown"  # null
            assert mine["binary_sensor.demo_orchestrator"]["state"] == "on"
            unavailable = sorted(e for e, s in mine.items() if s["state"] == "unavailable")
            assert unavailable == []
            # one HA device per HyperHome device, in its room's area, via the home's own device
            devices = "{{ integration_entities('mqtt') | map('device_id') | unique | list | count }}"
            assert int(await ha.template(devices)) == len(home.plan.devices) + 1
            assert await ha.template("{{ area_name('climate.living_ac') }}") == "Living"
            assert await ha.template("{{ device_attr(device_id('lock.door_lock'), 'model') }}") == "Lock"
            hub = "device_id('binary_sensor.demo_orchestrator')"
            for entity in ("lock.door_lock", "climate.living_ac", "sensor.phone_battery_pct"):
                via = f"{{{{ device_attr(device_id('{entity}'), 'via_device_id') == {hub} }}}}"
                assert await ha.template(via) == "True", entity
            still = await ha.get_bytes(f"/api/camera_proxy/camera.door_camera?token={ha.token}")
            assert still.startswith(b"\x89PNG")

            # every device published its configs again when HA's birth message came
            await ha.until(
                lambda: _async(all(d.rounds >= 2 for d in home.discovery.values())), 30, "configs again on HA's birth"
            )

            # HA drives the devices through their own cmd/ topics
            await ha.call("climate", "set_hvac_mode", entity_id="climate.living_ac", hvac_mode="cool")
            await ha.call("climate", "set_temperature", entity_id="climate.living_ac", temperature=22.5)
            device = home.devices["living-ac"]

            async def cooling_at_22_5() -> bool:
                s = device.state
                return bool(s.power and s.mode == "cool" and s.target_c == 22.5)

            await ha.until(cooling_at_22_5, 20, "the AC on, cooling, at 22.5")

            async def ha_shows_cool() -> bool:
                state = (await ha.states())["climate.living_ac"]
                return state["state"] == "cool" and state["attributes"]["temperature"] == 22.5  # type: ignore[no-any-return]

            await ha.until(ha_shows_cool, 20, "HA shows the AC cooling at 22.5")
            await ha.call("climate", "set_hvac_mode", entity_id="climate.living_ac", hvac_mode="off")
            await ha.until(lambda: _async(not device.state.power), 20, "the AC off")

            lock = home.devices["door-lock"]
            await ha.call("lock", "unlock", entity_id="lock.door_lock")
            await ha.until(lambda: _async(not lock.state.locked), 20, "the door unlocked")
            await ha.until(lambda: _state_is(ha, "lock.door_lock", "unlocked"), 20, "HA shows it unlocked")
            await ha.call("lock", "lock", entity_id="lock.door_lock")
            await ha.until(lambda: _async(lock.state.locked), 20, "the door locked")
            await ha.until(lambda: _state_is(ha, "lock.door_lock", "locked"), 20, "HA shows it locked")

            # an event turns its binary_sensor on
            async with home.controller(in_sim_time=False) as ctl:
                await ctl.send("door-camera", "simulate.motion", {})
            await ha.until(lambda: _state_is(ha, "binary_sensor.door_camera_motion", "on"), 20, "motion on")

            # a device going offline shows as unavailable
            await home.devices["speaker"].stop()
            await ha.until(lambda: _state_is(ha, "number.speaker_volume_pct", "unavailable"), 20, "speaker unavailable")
            _report(broker, len(mine), discovered_s, after_ha_s, sorted(mine))


async def _async(value: bool) -> bool:
    return value


async def _state_is(ha: harness.HomeAssistant, entity: str, state: str) -> bool:
    return bool((await ha.states())[entity]["state"] == state)


def _report(broker: str, count: int, discovered_s: float, after_ha_s: float, entities: list[str]) -> None:
    path = os.environ.get("HYPERHOME_HA_REPORT")
    if path:
        with Path(path).open("a") as out:
            row = {
                "broker": broker,
                "entities": count,
                "up_to_last_entity_s": round(discovered_s, 2),
                "ha_mqtt_loaded_to_last_entity_s": round(after_ha_s, 2),
                "ids": entities,
            }
            out.write(json.dumps(row) + "\n")
