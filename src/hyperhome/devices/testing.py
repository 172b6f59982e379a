"""Test one device kind alone: in virtual time, on the in-memory broker, no broker process.

```python
async with DeviceHarness(AirConditioner, state={"room_temp_c": 31}) as ac:
    reply = await ac.command("set", {"power": True, "target_c": 24})
    await ac.clock.sleep(3600)
    assert ac.events("target_reached")
```
Everything the device publishes is kept in ``messages``; commands go through the same wire
path as from a real broker (decoding, validation, replies, duplicate suppression), and the
device's connection is the same ``BusClient`` as on a real broker, driving a ``MemoryBroker``
link instead of a TCP one (broker/memory.py).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from hyperhome.broker.client import Bus, Message
from hyperhome.broker.credentials import Login
from hyperhome.broker.memory import MemoryBroker
from hyperhome.broker.topics import Topics
from hyperhome.broker.wire import Reply, decode, dumps
from hyperhome.devices.base import Device, DeviceSpec
from hyperhome.devices.clock import DEFAULT_START, VirtualClock

if TYPE_CHECKING:
    from types import TracebackType

D = TypeVar("D", bound=Device)
_ids = itertools.count(1)


class DeviceHarness(Generic[D]):
    def __init__(
        self,
        kind: type[D],
        *,
        device_id: str = "dut",
        state: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        owner: str | None = None,
        room: str | None = None,
        home: str = "test",
        start: float | None = None,
    ) -> None:
        self.clock = VirtualClock(DEFAULT_START.timestamp() if start is None else start)
        self.broker = MemoryBroker()
        self.topics = Topics(home)
        spec = DeviceSpec(id=device_id, kind=kind.kind, owner=owner, room=room, state=state or {}, config=config or {})
        self.device: D = kind(spec, home=home, clock=self.clock, topics=self.topics)
        self.messages: list[Message] = []
        self._observer: Bus | None = None

    async def __aenter__(self) -> DeviceHarness[D]:
        await self.clock.__aenter__()
        self.clock.add_barrier(self.broker)
        observer = self.broker.client(f"{self.topics.home}.$controller")
        await observer.subscribe(self.topics.everything, self.messages.append)
        await observer.__aenter__()
        self._observer = observer
        await self.device.start(
            self.broker.connector, Login(username=f"{self.topics.home}.{self.device.id}", password="-")
        )
        await self.clock.settle()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.device.stop()
        if self._observer is not None:
            await self._observer.__aexit__(None, None, None)
        await self.clock.__aexit__(None, None, None)

    @property
    def state(self) -> Any:
        return self.device.state

    async def publish(self, topic: str, payload: bytes | str | dict[str, Any]) -> None:
        """Publish as a controller would (for stimuli such as another device going offline)."""
        assert self._observer is not None
        await self._observer.publish(topic, payload)
        await self.clock.settle()

    async def command(self, command: str, args: dict[str, Any] | None = None) -> Reply:
        """Send a command through the wire path and return its reply."""
        cmd_id = f"h-{next(_ids)}"
        await self.publish(self.topics.cmd(self.device.id, command), dumps({"id": cmd_id, "args": args or {}}))
        for message in reversed(self.messages):
            if message.topic == self.topics.reply(self.device.id):
                reply = decode(Reply, message.payload)
                if reply.id == cmd_id:
                    return reply
        msg = f"no reply to {command} {args}"
        raise AssertionError(msg)

    async def ok(self, command: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a command that must succeed; return its result."""
        reply = await self.command(command, args)
        assert reply.ok, reply.error
        return reply.result or {}

    def events(self, name: str) -> list[dict[str, Any]]:
        topic = self.topics.event(self.device.id, name)
        return [m.json() for m in self.messages if m.topic == topic]

    def published(self, suffix: str) -> list[Message]:
        prefix = self.topics.device(self.device.id) + "/"
        return [m for m in self.messages if m.topic == prefix + suffix]
