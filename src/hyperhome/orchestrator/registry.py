"""The registry of live devices, built only from retained ``$meta``, ``state`` and ``$availability``.

Nothing is configured into it: it subscribes and listens, so a restarted orchestrator (or a CLI,
or a dashboard) rebuilds the same picture from the broker's retained messages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from hyperhome.broker.client import Bus, Message
from hyperhome.broker.topics import Topics
from hyperhome.broker.wire import ONLINE, Meta, decode

log = logging.getLogger(__name__)


@dataclass
class DeviceView:
    """What the broker says about one device."""

    id: str
    meta: Meta | None = None
    state: dict[str, Any] | None = None
    availability: str | None = None

    @property
    def online(self) -> bool:
        return self.availability == ONLINE

    @property
    def kind(self) -> str | None:
        return self.meta.kind if self.meta else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "meta": self.meta.model_dump(mode="json") if self.meta else None,
            "state": self.state,
            "availability": self.availability,
        }


@dataclass
class Registry:
    topics: Topics
    devices: dict[str, DeviceView] = field(default_factory=dict)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _listeners: list[Callable[[DeviceView, str], None]] = field(default_factory=list)

    async def attach(self, bus: Bus) -> None:
        """Subscribe ``bus`` to the three retained topics of every device of the home."""
        for kind in ("$meta", "state", "$availability"):
            await bus.subscribe(self.topics.all_of(kind), self.handle)

    def on_change(self, listener: Callable[[DeviceView, str], None]) -> Callable[[], None]:
        """Call ``listener(view, what)`` after every update (what: ``$meta``, ``state``, ``$availability``).

        Returns a function that removes the listener again.
        """
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    def handle(self, message: Message) -> None:
        ref = self.topics.parse(message.topic)
        if ref is None or ref.kind not in ("$meta", "state", "$availability") or ref.device.startswith("$"):
            return
        view = self.devices.get(ref.device) or DeviceView(ref.device)
        if not message.payload:  # a cleared retained message: the device is gone
            if ref.kind == "$meta":
                self.devices.pop(ref.device, None)
                self._notify(view, ref.kind)
            return
        try:
            if ref.kind == "$meta":
                view.meta = decode(Meta, message.payload)
            elif ref.kind == "state":
                data = message.json()
                if not isinstance(data, dict):
                    raise ValueError("state is not an object")  # noqa: EM101
                view.state = data
            else:
                view.availability = message.text.strip()
        except (ValueError, ValidationError) as exc:
            log.warning("ignoring malformed %s of %s: %s", ref.kind, ref.device, exc)
            return
        self.devices[ref.device] = view
        self._notify(view, ref.kind)

    def _notify(self, view: DeviceView, what: str) -> None:
        self._changed.set()
        for listener in list(self._listeners):
            try:
                listener(view, what)
            except Exception:
                log.exception("registry listener failed")

    def get(self, device: str) -> DeviceView | None:
        return self.devices.get(device)

    async def wait_for(self, predicate: Callable[[Registry], bool]) -> None:
        """Wait until ``predicate(self)`` holds; bound it with a timeout around the call."""
        while not predicate(self):
            self._changed.clear()
            await self._changed.wait()
