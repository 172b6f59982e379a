"""Clean-up commands that must reach their device, even one that is offline right now.

When a flow ends it tidies up without waiting for replies: the phone's hotspot is stopped, a
camera's lease released, the AC switched off. A device that is offline at that moment (or an
orchestrator cut off from the broker) would miss the command, and come back with its hotspot on
for a client that has gone. So clean-up goes through the orchestrator's ``Mailbox``::

    await mailbox.deliver("phone", "hotspot.stop")

- Each command gets its id once and is kept, per device and in order, until the device answers
  it (any reply: ``ok`` or an error such as "the hotspot is already off").
- It is sent at once when the device is online and the orchestrator connected; otherwise, and
  again for whatever is still unanswered, when the device announces ``$availability = online``
  and after every reconnect of the orchestrator (``flush``). A copy that arrives twice is applied
  once: the device answers a repeated id with its first reply (docs/protocol.md).
- Bounded: at most ``max_per_device`` commands wait per device; past that the oldest is dropped
  and logged.
- A command a flow gave up waiting for may still be applied: a reply that comes after its flow
  stopped waiting is answered by the undo the flow registered (``undo_if_late``): a stream
  lease that the phone granted after the hand-off had failed is stopped again.

Why not a persistent MQTT session with QoS 1 instead: the broker would keep a device's commands
only while it keeps the session, and a broker restart without persistence (the managed Mosquitto
runs with ``persistence false``, the embedded broker keeps nothing) drops every session; a
persistent session would also hand a device every command sent while it was away, user commands
included, which must not be applied late. The orchestrator knows which commands are clean-up.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hyperhome.broker.wire import Command
from hyperhome.errors import NotConnectedError

if TYPE_CHECKING:
    from hyperhome.broker.client import Bus
    from hyperhome.broker.topics import Topics
    from hyperhome.broker.wire import Reply
    from hyperhome.orchestrator.registry import Registry
    from hyperhome.orchestrator.requests import Requester

log = logging.getLogger(__name__)

MAX_PER_DEVICE = 32
MAX_LATE = 256  # commands given up on whose late success is undone (the oldest forgotten first)
Undo = Callable[[dict[str, Any]], tuple[str, dict[str, Any]] | None]
"""From a late reply's result, the clean-up command and args that undo it (None: nothing to undo)."""


@dataclass(frozen=True, slots=True)
class Letter:
    """One clean-up command on its way: its id, device, command and payload."""

    id: str
    device: str
    command: str
    payload: bytes


class Mailbox:
    """Clean-up commands kept per device until answered; see the module docstring."""

    def __init__(
        self, bus: Bus, topics: Topics, registry: Registry, requests: Requester, *, max_per_device: int = MAX_PER_DEVICE
    ) -> None:
        self.bus = bus
        self.topics = topics
        self.registry = registry
        self.requests = requests
        self.max_per_device = max_per_device
        self._letters: dict[str, deque[Letter]] = {}
        self._where: dict[str, str] = {}  # command id -> device
        self._late: OrderedDict[str, tuple[str, Undo]] = OrderedDict()  # given-up command id -> (device, undo)
        self._undoing: set[asyncio.Task[None]] = set()
        requests.on_unmatched = self.on_reply

    def waiting(self, device: str) -> list[Letter]:
        """The commands for ``device`` not answered yet, oldest first."""
        return list(self._letters.get(device, ()))

    async def deliver(self, device: str, command: str, args: dict[str, Any] | None = None) -> None:
        """Send ``command`` to ``device`` now if it can be, and keep it until the device answers."""
        command_id = self.requests.new_id()
        letter = Letter(command_id, device, command, Command(id=command_id, args=args or {}).to_payload())
        letters = self._letters.setdefault(device, deque())
        letters.append(letter)
        self._where[letter.id] = device
        if len(letters) > self.max_per_device:
            dropped = letters.popleft()
            self._where.pop(dropped.id, None)
            log.warning("%s is away too long: dropped its oldest clean-up command %s", device, dropped.command)
        if self._reachable(device):
            await self._send(letter)

    def undo_if_late(self, command_id: str, device: str, undo: Undo) -> None:
        """If ``device`` still answers ``command_id`` ok, after its sender stopped waiting, deliver
        the clean-up ``undo`` makes of the reply's result."""
        self._late[command_id] = (device, undo)
        while len(self._late) > MAX_LATE:
            self._late.popitem(last=False)

    async def flush(self, device: str | None = None) -> None:
        """Send again what ``device`` (every device, if None) has not answered, if it is online."""
        for name in [device] if device is not None else list(self._letters):
            if not self._reachable(name):
                continue
            for letter in list(self._letters.get(name, ())):
                if not await self._send(letter):
                    return

    def on_reply(self, reply: Reply) -> None:
        """A reply no request waits for: if it answers a letter, the letter is delivered; if it is
        the late success of a command given up on, its undo is delivered."""
        late = self._late.pop(reply.id or "", None)
        if late is not None and reply.ok:
            target, undo = late
            clean_up = undo(reply.result or {})
            if clean_up is not None:
                task = asyncio.get_running_loop().create_task(self.deliver(target, *clean_up))
                self._undoing.add(task)
                task.add_done_callback(self._undoing.discard)
            return
        device = self._where.pop(reply.id or "", None)
        if device is None:
            return
        letters = self._letters.get(device)
        if letters is None:
            return
        for letter in letters:
            if letter.id == reply.id:
                letters.remove(letter)
                break
        if not letters:
            del self._letters[device]

    def _reachable(self, device: str) -> bool:
        view = self.registry.get(device)
        return self.bus.connected and view is not None and view.online

    async def _send(self, letter: Letter) -> bool:
        try:
            await self.bus.publish(self.topics.cmd(letter.device, letter.command), letter.payload)
        except NotConnectedError:
            return False
        return True
