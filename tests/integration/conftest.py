"""A running home on each broker, in virtual time, with a controller and a message recorder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from hyperhome.broker.client import Message
from hyperhome.broker.faults import LinkFault
from hyperhome.home.homefile import HomeFile, load_home
from hyperhome.home.runtime import Home
from hyperhome.orchestrator.controller import Controller


@dataclass
class Recorder:
    """Every live message a controller saw, in arrival order (retained replays left out)."""

    messages: list[Message] = field(default_factory=list)

    def __call__(self, message: Message) -> None:
        if not message.retain:
            self.messages.append(message)

    def on(self, suffix: str) -> list[Message]:
        return [m for m in self.messages if m.topic.endswith(suffix)]

    def json_on(self, suffix: str) -> list[dict]:  # type: ignore[type-arg]
        return [m.json() for m in self.on(suffix)]


@pytest.fixture
def plan() -> HomeFile:
    return load_home("demo")


@pytest.fixture
def with_faults() -> bool:
    """Whether the home has a fault proxy in front of each device's link (``home.faults``): a test
    that cuts a link says ``@pytest.mark.parametrize("with_faults", [True])``."""
    return False


@pytest.fixture
async def home(broker_kind: str, plan: HomeFile, with_faults: bool) -> AsyncIterator[Home]:
    async with Home(plan, broker=broker_kind, faults=with_faults) as running:
        yield running


async def drop_link(home: Home, device: str) -> None:
    """Reset ``device``'s connection through the home's fault proxy, as a network fault would."""
    assert home.faults is not None, 'parametrize the test with ("with_faults", [True])'
    await home.faults.apply(LinkFault(device=device, drop=True))


@pytest.fixture
async def recorder(controller: Controller) -> Recorder:
    rec = Recorder()
    await controller.bus.subscribe(controller.topics.everything, rec)
    return rec


@pytest.fixture
async def controller(home: Home) -> AsyncIterator[Controller]:
    async with home.controller() as ctl:
        await ctl.synced()
        yield ctl
