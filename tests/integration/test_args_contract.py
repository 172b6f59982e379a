"""A live device, through a real broker (both), accepts exactly what its ``$meta`` schema says.

Generated payloads (``hyperhome.bench.reliability.strategies``, through tests/payloads.py) go to
an air conditioner and a speaker as commands whose handlers refuse nothing that is valid; each
gets exactly one reply, ``ok`` exactly when a JSON Schema validator over the schema the device
published in ``$meta`` accepts the args, and a refused command changes no state and publishes
none. The unit-level property over every kind
is tests/devices/test_args_contract.py.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings

from hyperhome.broker.wire import Command, ErrorCode, Reply
from hyperhome.devices.base import args_schema
from hyperhome.devices.catalog import KINDS
from hyperhome.home.homefile import HomeFile
from hyperhome.home.runtime import Home
from tests.payloads import Json, client_validator, payloads

from .conftest import Recorder

PER_COMMAND = 60
COMMANDS = [
    ("living-ac", "air_conditioner", "set"),
    ("living-ac", "air_conditioner", "power"),
    ("living-ac", "air_conditioner", "simulate.outdoor"),
    ("speaker", "speaker", "set"),
    ("speaker", "speaker", "hear"),
]
PLAN = HomeFile.model_validate(
    {
        "home": "contract",
        "devices": [
            {"id": "living-ac", "kind": "air_conditioner", "room": "living"},
            {"id": "speaker", "kind": "speaker", "room": "living"},
        ],
    }
)


@functools.cache
def generated(kind: str, command: str) -> tuple[dict[str, Json], ...]:
    """The same ``PER_COMMAND`` payloads every run (hypothesis, derandomized)."""
    schema = args_schema(KINDS[kind].commands[command].args)
    drawn: list[dict[str, Json]] = []

    @settings(
        max_examples=PER_COMMAND,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(payloads(schema))
    def draw(payload: dict[str, Json]) -> None:
        drawn.append(payload)

    draw()
    return tuple(drawn)


async def test_every_payload_gets_one_reply_that_agrees_with_the_schema_in_meta(broker_kind: str) -> None:
    async with Home(PLAN, broker=broker_kind, orchestrator=False) as home, home.controller(in_sim_time=False) as ctl:
        replies = Recorder()
        await ctl.bus.subscribe(ctl.topics.all_of("reply"), replies)
        await ctl.synced()
        expected: dict[str, bool] = {}
        outcomes: Counter[str] = Counter()
        for device_id, kind, command in COMMANDS:
            meta = ctl.registry.devices[device_id].meta
            assert meta is not None
            client = client_validator(meta.commands[command])  # what the device advertised, not the model
            device = home.devices[device_id]
            for n, payload in enumerate(generated(kind, command)):
                command_id = f"{device_id}.{command}.{n}"
                on_wire: dict[str, Any] = json.loads(Command(id=command_id, args=payload).to_payload())["args"]
                valid = expected[command_id] = client.is_valid(on_wire)
                state_before, seq_before = device.state.model_dump(), device.seq
                reply = await ctl.request(device_id, command, payload, timeout_s=10, command_id=command_id)
                assert reply.ok is valid, (command, on_wire, reply.error)
                if not valid:
                    assert reply.error is not None
                    assert reply.error.code == ErrorCode.INVALID_ARGS, (command, on_wire, reply.error)
                    assert device.state.model_dump() == state_before, (command, on_wire)
                    assert device.seq == seq_before, f"{command} {on_wire}: a refused command published state"
                outcomes[f"{device_id} {command} {'ok' if valid else 'invalid'}"] += 1
        await ctl.synced()  # any second reply would be in by now
        ids = Counter(Reply.model_validate_json(m.payload).id for m in replies.messages)
        assert set(ids) == set(expected)
        assert set(ids.values()) == {1}, [i for i, count in ids.items() if count != 1]
    for device_id, _, command in COMMANDS:  # both answers, for every command
        assert outcomes[f"{device_id} {command} ok"] >= 3, outcomes
        assert outcomes[f"{device_id} {command} invalid"] >= 3, outcomes
