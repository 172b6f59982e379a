"""Payloads beyond the contract's limits, on both brokers: nested 1,000, 10,000 and 100,000 levels
deep, or larger than 256 KiB, to one device of every kind and to the orchestrator. Each gets
exactly one ``bad_request`` reply naming its id, nothing changes, and nothing fails in the log."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from typing import Any

import pytest

from hyperhome.broker.client import Message
from hyperhome.broker.topics import CONTROLLER, ORCHESTRATOR
from hyperhome.broker.wire import MAX_PAYLOAD_BYTES
from hyperhome.devices.catalog import KINDS
from hyperhome.home.runtime import Home
from hyperhome.orchestrator.controller import Controller

WAIT_S = 30.0


def _nested(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


BAD_ARGS = {
    "nested-1000": _nested(1_000),
    "nested-10000": _nested(10_000),
    "nested-100000": _nested(100_000),
    "oversize": b'"' + b"x" * MAX_PAYLOAD_BYTES + b'"',
}


class Replies:
    """Every reply the controller sees, by id, and an event for each new one."""

    def __init__(self) -> None:
        self.by_id: Counter[str] = Counter()
        self.payloads: dict[str, dict[str, Any]] = {}
        self.changed = asyncio.Event()

    def __call__(self, message: Message) -> None:
        reply = json.loads(message.payload)
        self.by_id[str(reply["id"])] += 1
        self.payloads[str(reply["id"])] = reply
        self.changed.set()

    async def wait_for(self, ids: set[str]) -> None:
        async with asyncio.timeout(WAIT_S):
            while not ids <= set(self.by_id):
                self.changed.clear()
                await self.changed.wait()


def targets(home: Home) -> dict[str, str]:
    """One device of every kind, and the orchestrator: target -> a command it has."""
    found: dict[str, str] = {}
    for device in home.devices.values():
        if device.kind not in found.values():
            found[device.id] = device.kind
    assert set(found.values()) == set(KINDS), "the demo home has every kind"
    commands = {device: next(iter(home.devices[device].commands)) for device in found}
    return {**commands, ORCHESTRATOR: "precool"}


async def test_too_deep_or_too_large_gets_one_bad_request_naming_it_and_changes_nothing(
    home: Home, controller: Controller, caplog: pytest.LogCaptureFixture
) -> None:
    replies = Replies()
    await controller.bus.subscribe(controller.topics.all_of("reply"), replies)
    states_before = {d: v.state for d, v in controller.registry.devices.items()}
    flows_before = dict(controller.flows)
    sent: dict[str, str] = {}
    with caplog.at_level(logging.WARNING):
        for target, command in targets(home).items():
            for name, args in BAD_ARGS.items():
                cmd_id = f"{name}-{target}"
                payload = b'{"id": "' + cmd_id.encode() + b'", "args": {"value": ' + args + b"}}"
                await controller.bus.publish(controller.topics.cmd(target, command), payload)
                sent[cmd_id] = target
        await replies.wait_for(set(sent))
        # a last command to each: answered after anything still owed for the ones before it
        for target in targets(home):
            last = b'{"id": "last-' + target.encode() + b'"}'
            await controller.bus.publish(controller.topics.cmd(target, "no.such"), last)
        await replies.wait_for({f"last-{t}" for t in targets(home)})
    for cmd_id, target in sent.items():
        reply = replies.payloads[cmd_id]
        assert replies.by_id[cmd_id] == 1, f"{cmd_id}: {replies.by_id[cmd_id]} replies"
        assert (reply["ok"], reply["error"]["code"]) == (False, "bad_request"), (target, reply)
        limit = "bytes, more than the" if cmd_id.startswith("oversize") else "nested deeper than 32 levels"
        assert limit in reply["error"]["message"], reply
    assert {d: v.state for d, v in controller.registry.devices.items()} == states_before
    assert controller.flows == flows_before
    failures = [r for r in caplog.records if r.exc_info is not None or r.levelno >= logging.ERROR]
    assert not failures, [r.getMessage() for r in failures]


async def test_a_barrier_token_nested_too_deep_is_ignored_and_time_goes_on(
    home: Home, controller: Controller, caplog: pytest.LogCaptureFixture
) -> None:
    """The clock's coordinator reads every login's ``$sync`` token (and the controller its echo)."""
    started = home.clock.now()
    with caplog.at_level(logging.WARNING):
        for levels in (1_000, 100_000):
            await controller.bus.publish(controller.topics.sync(CONTROLLER), _nested(levels), qos=0)
        await home.clock.sleep(60)
        await controller.synced()
    assert home.clock.now() == started + 60
    assert [r.getMessage() for r in caplog.records if r.exc_info is not None] == []
