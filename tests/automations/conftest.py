"""A small home with no rules, on each broker; tests add the rules they need at run time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from hyperhome.broker.client import Message
from hyperhome.broker.topics import ORCHESTRATOR
from hyperhome.devices.clock import Clock
from hyperhome.home.homefile import HomeFile
from hyperhome.home.runtime import Home
from hyperhome.orchestrator.controller import Controller

PLAN: dict[str, Any] = {
    "home": "auto",
    "residents": ["alice"],
    "devices": [
        {
            "id": "phone",
            "kind": "phone",
            "owner": "alice",
            "state": {"location": "office"},
            "config": {"places_km": {"office": 12}},
        },
        {
            "id": "living-ac",
            "kind": "air_conditioner",
            "name": "Living room AC",
            "room": "living",
            "state": {"room_temp_c": 24.1, "outdoor_temp_c": 24.1, "target_c": 26},
        },
        {"id": "door-lock", "kind": "lock", "name": "Front door lock", "room": "entrance"},
        {"id": "door-camera", "kind": "camera", "name": "Front door camera", "room": "entrance"},
        {"id": "car", "kind": "car", "owner": "alice"},
        {"id": "speaker", "kind": "speaker", "name": "Living room speaker", "room": "living"},
    ],
}


@dataclass
class Events:
    """Every live device and orchestrator event, in arrival order: (device, name, payload)."""

    items: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, message: Message) -> None:
        if message.retain:
            return
        parts = message.topic.split("/")
        self.items.append((parts[2], parts[-1], message.json()))
        self.changed.set()

    def of(self, name: str, device: str = ORCHESTRATOR) -> list[dict[str, Any]]:
        return [p for d, n, p in self.items if d == device and n == name]

    def fired(self, rule: str) -> list[dict[str, Any]]:
        return [p for p in self.of("automation_fired") if p["rule"] == rule]

    def spoken(self) -> list[str]:
        return [p["text"] for p in self.of("spoke", "speaker")]

    async def until(self, clock: Clock, done: Callable[[], bool], *, timeout_s: float = 10.0) -> None:
        """Let simulated time run until ``done()`` holds (TimeoutError after ``timeout_s`` simulated seconds)."""
        async with clock.timeout(timeout_s):
            while not done():
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
def plan() -> HomeFile:
    return HomeFile.model_validate(PLAN)


@pytest.fixture
async def home(broker_kind: str, plan: HomeFile) -> AsyncIterator[Home]:
    async with Home(plan, broker=broker_kind) as running:
        yield running


@pytest.fixture
async def ctl(home: Home) -> AsyncIterator[Controller]:
    async with home.controller() as controller:
        await controller.synced()
        yield controller


@pytest.fixture
async def events(ctl: Controller) -> Events:
    recorder = Events()
    await ctl.bus.subscribe(ctl.topics.all_of("event"), recorder)
    return recorder


async def orch(ctl: Controller, command: str, args: dict[str, Any]) -> dict[str, Any]:
    """An ``automation.*`` command; its result (CommandError on an error reply)."""
    return await ctl.send(ORCHESTRATOR, command, args)


async def add(ctl: Controller, rule: dict[str, Any]) -> dict[str, Any]:
    return await orch(ctl, "automation.add", {"rule": rule})


async def why(ctl: Controller, rule_id: str) -> str:
    return str((await orch(ctl, "automation.why", {"id": rule_id}))["answer"])
