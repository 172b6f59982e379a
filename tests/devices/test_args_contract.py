"""Every command of every kind accepts exactly what its ``$meta`` schema advertises.

A property, per args model (kinds share some: the media source's ``stream.*``, the call app's):
for generated payloads, a JSON Schema validator over ``args_schema`` (what ``$meta`` carries)
and ``validate_args`` (what the device runs on every command) agree on accept or reject.
Hypothesis draws each example from the schema, mutated from it or as an arbitrary JSON object,
and every example is checked with all its single mutations (``variants``: each key set to each
near miss and each JSON type, dropped, unknown keys added), which costs microseconds each where
a drawn example costs milliseconds. Deterministic (``derandomize``), no example database.
The same over a live broker: tests/integration/test_args_contract.py.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from pydantic import ValidationError

from hyperhome.devices.base import Args, args_schema, validate_args
from hyperhome.devices.catalog import KINDS
from hyperhome.devices.physics import radio
from tests.payloads import Json, client_validator, payloads, variants, wire

EXAMPLES_PER_MODEL = 100
MIN_CASES_PER_MODEL = 1000


def _models() -> dict[type[Args], list[str]]:
    """Each distinct args model, with the commands (``kind.command``) that take it."""
    models: dict[type[Args], list[str]] = {}
    for kind_name, kind in sorted(KINDS.items()):
        for name, spec in sorted(kind.commands.items()):
            models.setdefault(spec.args, []).append(f"{kind_name}.{name}")
    return models


MODELS = _models()
CASES: dict[str, int] = {}
"""Payloads checked per model (by its first command), for a report."""


def device_accepts(model: type[Args], payload: Json) -> bool:
    try:
        validate_args(model, payload)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("model", list(MODELS), ids=[commands[0] for commands in MODELS.values()])
def test_the_schema_in_meta_and_the_device_agree(model: type[Args]) -> None:
    schema = args_schema(model)
    client = client_validator(schema)
    seen: Counter[bool] = Counter()

    @settings(
        max_examples=EXAMPLES_PER_MODEL,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(payloads(schema))
    def agree(payload: dict[str, Json]) -> None:
        for variant in variants(schema, payload):
            data = wire(variant)
            schema_says = client.is_valid(data)
            device_says = device_accepts(model, data)
            assert schema_says == device_says, (
                f"{MODELS[model]}: {json.dumps(data)} is {'valid' if schema_says else 'invalid'} by the schema "
                f"but the device {'accepts' if device_says else 'rejects'} it"
            )
            seen[schema_says] += 1

    agree()
    CASES[MODELS[model][0]] = sum(seen.values())
    # the property means something only if there were many cases and both answers came up often
    assert sum(seen.values()) >= MIN_CASES_PER_MODEL, (MODELS[model], seen)
    assert seen[True] >= EXAMPLES_PER_MODEL // 4, (MODELS[model], seen)
    assert seen[False] >= MIN_CASES_PER_MODEL // 2, (MODELS[model], seen)


def test_every_command_is_covered() -> None:
    commands = sum(len(kind.commands) for kind in KINDS.values())
    assert sum(len(c) for c in MODELS.values()) == commands


# -- the cases of the issue and of each rule the schema states, spelled out -----------------------
def agreed(command: str, payload: Json) -> bool:
    """Accept or reject, once both sides agree (fails if they do not)."""
    kind, name = command.split(".", 1)
    model = KINDS[kind].commands[name].args
    data = wire(payload)
    schema_says = bool(client_validator(args_schema(model)).is_valid(data))
    assert schema_says == device_accepts(model, data), (command, payload)
    return schema_says


@pytest.mark.parametrize(
    ("command", "payload", "valid"),
    [
        # issue 11, part 5: $meta says power is a boolean and target_c a number
        ("air_conditioner.set", {"power": "yes"}, False),
        ("air_conditioner.set", {"power": 0}, False),
        ("air_conditioner.set", {"target_c": "23"}, False),
        ("air_conditioner.set", {"target_c": 23}, True),  # a JSON integer is a number
        ("air_conditioner.set", {"target_c": 23.5, "mode": "cool"}, True),
        ("air_conditioner.set", {"mode": "COOL"}, False),
        ("air_conditioner.set", {"power": None}, False),  # may be left out, never null
        ("air_conditioner.set", {}, False),  # at least one key
        ("air_conditioner.set", {"power": True, "colour": "red"}, False),
        ("air_conditioner.set", {"target_c": 10**400}, False),
        ("air_conditioner.power", {"on": 1}, False),
        ("air_conditioner.power", {}, False),
        ("speaker.set", {"volume_pct": 40.0}, True),  # 40.0 is an integer in JSON Schema
        ("speaker.set", {"volume_pct": 40.5}, False),
        ("speaker.set", {"volume_pct": True}, False),
        ("phone.simulate.signal", {"dbm": None}, True),
        ("phone.simulate.signal", {}, False),
        ("air_conditioner.estimate", {"target_c": 24, "at": "2026-06-01T18:30:00Z"}, True),
        ("air_conditioner.estimate", {"target_c": 24, "at": "2028-02-29T00:00:00.5+02:00"}, True),
        ("air_conditioner.estimate", {"target_c": 24, "at": "2026-02-29T00:00:00Z"}, False),  # not a leap year
        ("air_conditioner.estimate", {"target_c": 24, "at": "2026-06-01T18:30:00"}, False),  # no offset
        ("air_conditioner.estimate", {"target_c": 24, "at": "2026-06-01 18:30:00Z"}, False),
        ("air_conditioner.estimate", {"target_c": 24, "at": 1780338600}, False),
        ("camera.simulate.person", {"name": "alice", "known": False}, False),
        ("camera.simulate.person", {"name": "alice"}, True),
        ("camera.simulate.person", {"known": False, "name": None}, True),
        ("lock.unlock", {}, True),
        ("lock.unlock", {"method": "pin", "pin": "1234"}, True),
        ("lock.unlock", {"method": "pin", "pin": "12a4"}, False),
        ("lock.unlock", {"method": "pin"}, False),
        ("lock.unlock", {"pin": "1234"}, False),
        ("lock.unlock", {"method": "fingerprint", "finger": "right index", "user": "bob"}, False),
        ("phone.move", {"location": "home", "distance_km": 0}, True),
        ("phone.move", {"location": "home", "distance_km": 3}, False),
        ("phone.move", {"location": "48.85, 2.35"}, True),
        ("phone.move", {"location": "91,0"}, False),
        ("phone.move", {"location": "office\n"}, True),  # a name: anything without a comma
        ("phone.move", {"location": "1,2\n"}, False),
        ("phone.hotspot.start", {"ssid": "é" * 16}, True),
        ("phone.hotspot.start", {"ssid": "é" * 17}, False),  # 34 octets
        ("phone.hotspot.start", {"ssid": "手" * 10}, True),
        ("phone.hotspot.start", {"ssid": "手" * 11}, False),
        ("phone.hotspot.admit", {"client": "tablet\n"}, False),  # Python's re would let this id through
        ("phone.simulate.traffic", {"client": "tablet"}, False),
        ("phone.simulate.traffic", {"client": "tablet", "mb": None, "mb_per_h": 5}, False),
        ("phone.tap", {"intent": "precool", "args": {"target_c": "24", "anything": [None]}}, True),
        ("car.climate.set", {"zone": "driver"}, False),
        ("car.climate.set", {"zone": None, "power": True}, True),
    ],
)
def test_named_cases(command: str, payload: Json, valid: bool) -> None:
    assert agreed(command, payload) is valid


def test_ssid_rule_never_exceeds_32_octets() -> None:
    for ssid in ["a" * 32, "é" * 16, "手" * 10, "😀" * 8, "é" * 8 + "a" * 8]:
        assert radio.ssid_ok(ssid)
        assert len(ssid.encode()) <= radio.SSID_MAX_OCTETS
    assert not radio.ssid_ok("a" * 33)
    assert not radio.ssid_ok("")


def test_a_rejection_names_the_key_and_the_rule() -> None:
    model = KINDS["air_conditioner"].commands["set"].args
    with pytest.raises(ValidationError) as caught:
        validate_args(model, {"target_c": "23"})
    assert caught.value.errors()[0]["loc"] == ("target_c",)
    assert caught.value.errors()[0]["msg"] == "Input should be a valid number"
