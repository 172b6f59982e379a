"""The orchestrator of one home: its own login, its availability, and the registry of devices.

Flows, rules and voice build on this (later issues); here it announces itself and keeps the
registry, rebuilt from retained messages on every start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hyperhome.broker.client import Bus, Connector, Will
from hyperhome.broker.credentials import Login
from hyperhome.broker.topics import ORCHESTRATOR, Topics
from hyperhome.broker.wire import OFFLINE, ONLINE
from hyperhome.errors import NotConnectedError
from hyperhome.orchestrator.registry import Registry

if TYPE_CHECKING:
    from types import TracebackType

    from hyperhome.devices.clock import Clock


class Orchestrator:
    def __init__(self, connect: Connector, login: Login, topics: Topics, *, clock: Clock) -> None:
        self.topics = topics
        self.clock = clock
        self.registry = Registry(topics)
        availability = topics.availability(ORCHESTRATOR)
        self.bus: Bus = connect(
            login,
            client_id=login.username,
            will=Will(availability, OFFLINE.encode()),
            on_connect=self._announce,
            sync_name=ORCHESTRATOR,
        )

    async def _announce(self) -> None:
        await self.bus.publish(self.topics.availability(ORCHESTRATOR), ONLINE, retain=True)

    async def __aenter__(self) -> Orchestrator:
        await self.registry.attach(self.bus)
        await self.bus.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self.bus.publish(self.topics.availability(ORCHESTRATOR), OFFLINE, retain=True)
        except NotConnectedError:
            pass
        await self.bus.__aexit__(exc_type, exc, tb)
