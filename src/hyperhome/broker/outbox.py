"""An outbox: what a client publishes and must not lose to a broker outage.

The orchestrator's flow statuses, its events and its replies go through one ``Outbox``::

    outbox = Outbox(bus)
    await outbox.publish(topics.flow("f-1"), status, retain=True)   # never raises NotConnectedError
    ...
    await outbox.flush()          # in the bus's on_connect: after every (re)connect

- Connected, with nothing waiting, a message is handed to the connection at once
  (``bus.publish_nowait``: in virtual time that keeps its place in the instant's order,
  docs/protocol.md) and ``publish`` returns without waiting for the broker's PUBACK: the caller
  (a flow, the orchestrator's command handler) goes on at once instead of a broker round trip
  later. The message stays *in flight*, kept here, until its PUBACK comes.
- Otherwise (no connection, the publish failed, or older messages still wait) it is queued, in
  order, and ``flush`` sends the queue after the next connect. A message in flight whose
  connection dropped before its PUBACK may have reached the broker all the same and is sent
  again, ahead of the queue (it is older): delivery is at least once, in order. Until that
  ``flush``, nothing newer goes out ahead of it.
- Retained messages: the newest per topic wins. A queued retained message that a newer one on
  the same topic replaces is dropped from the queue (the newer one goes to its end, so the order
  of what is sent stays the order of publishing), and the outbox remembers the last payload of
  every retained topic it published (``max_retained`` topics, the least recently updated
  forgotten first). ``flush`` republishes them all first: a broker that restarted without
  persistence (the managed Mosquitto runs with ``persistence false``) has lost them.
- Retained messages go out at QoS 0 (``RETAINED_QOS``), the others at QoS 1. For a retained
  message the broker's acknowledgement adds nothing: the outbox itself keeps its last payload
  and ``flush`` sends it again after every reconnect, so one lost with a connection is
  republished all the same, and the newest one is what the topic holds either way. Waiting for
  that PUBACK cost every flow step a broker round trip before the flow could go on (a camera
  handoff publishes five statuses before its first command; HyperHome issue 13).
- Bounded: at most ``max_queued`` messages wait. Past that the oldest non-retained one is
  dropped (counted in ``dropped``, logged); a retained topic is never dropped from the queue
  while it is remembered, since ``flush`` would republish it anyway. At most ``max_queued``
  messages are in flight: past that ``publish`` waits for the broker (``bus.publish``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict, deque
from dataclasses import dataclass

from hyperhome.broker.client import Bus, Payload, encode
from hyperhome.errors import NotConnectedError

log = logging.getLogger(__name__)

MAX_QUEUED = 1000
MAX_RETAINED = 512
RETAINED_QOS = 0
"""Retained messages are kept by the outbox and republished by ``flush``: no PUBACK to wait for."""
EVENT_QOS = 1


@dataclass(slots=True)
class _Queued:
    topic: str
    payload: bytes
    retain: bool
    live: bool = True  # False once a newer retained message on the topic replaced it
    lost: bool = False  # in flight: its connection was lost before the broker acknowledged it


class Outbox:
    """Publishes through ``bus`` and keeps what could not be sent; see the module docstring."""

    def __init__(self, bus: Bus, *, max_queued: int = MAX_QUEUED, max_retained: int = MAX_RETAINED) -> None:
        self.bus = bus
        self.max_queued = max_queued
        self.max_retained = max_retained
        self.dropped = 0
        """Non-retained messages dropped because the queue was full."""
        self._queue: deque[_Queued] = deque()
        self._live = 0  # queued entries not replaced
        self._queued_retained: dict[str, _Queued] = {}
        self._retained: OrderedDict[str, bytes] = OrderedDict()
        self._flushing = False
        self._lock = asyncio.Lock()
        self._inflight: deque[_Queued] = deque()  # handed over, no PUBACK yet (oldest first)
        self._lost = 0  # how many of them lost their connection: sent again by ``flush``

    @property
    def pending(self) -> int:
        """How many messages wait for the broker (queued, or in flight without a PUBACK)."""
        return self._live + len(self._inflight)

    @property
    def retained(self) -> dict[str, bytes]:
        """The last payload of every retained topic published through this outbox."""
        return dict(self._retained)

    async def publish(self, topic: str, payload: Payload = None, *, retain: bool = False) -> None:
        """Publish now if it can be done in order, else queue it for ``flush`` (QoS 1; retained: 0)."""
        data = encode(payload)
        if retain:
            self._remember(topic, data)
        if not self._live and not self._lost and not self._flushing and self.bus.connected:
            try:
                if retain:  # kept in ``_retained`` and republished by every flush: no PUBACK to track
                    self.bus.publish_nowait(topic, data, qos=RETAINED_QOS, retain=True)
                elif len(self._inflight) < self.max_queued:
                    entry = _Queued(topic, data, retain)
                    self._inflight.append(entry)
                    try:
                        self.bus.publish_nowait(topic, data, qos=EVENT_QOS, acked=lambda ok: self._acked(entry, ok))
                    except NotConnectedError:
                        self._inflight.remove(entry)
                        raise
                else:  # a broker that stopped acknowledging: wait for it rather than hold more
                    await self.bus.publish(topic, data, qos=EVENT_QOS)
            except NotConnectedError:
                pass
            else:
                return
        self._enqueue(topic, data, retain)

    def _acked(self, entry: _Queued, ok: bool) -> None:
        """The one answer for an in-flight ``entry``: the broker has it, or its connection is gone."""
        if ok:
            if self._inflight and self._inflight[0] is entry:
                self._inflight.popleft()  # PUBACKs come in order: the usual case
            else:
                with contextlib.suppress(ValueError):
                    self._inflight.remove(entry)
        elif not entry.lost:
            entry.lost = True
            self._lost += 1

    async def flush(self) -> None:
        """Republish every remembered retained topic, then send the queue in order.

        Call it after every (re)connect (from the bus's ``on_connect``). Stops, keeping the rest,
        when the connection is lost again; the next connect's ``flush`` goes on.
        """
        async with self._lock:
            self._flushing = True
            try:
                self._requeue_lost()
                await self._republish_retained()
                await self._send_queue()
            except NotConnectedError:
                log.info("outbox of %s: connection lost while flushing; %d waiting", self.bus.client_id, self._live)
            finally:
                self._flushing = False

    def _requeue_lost(self) -> None:
        """In-flight messages whose connection was lost go to the front of the queue, in order."""
        if not self._lost:
            return
        lost = [e for e in self._inflight if e.lost]
        self._inflight = deque(e for e in self._inflight if not e.lost)
        self._lost = 0
        for entry in reversed(lost):
            entry.lost = False
            self._queue.appendleft(entry)
        self._live += len(lost)

    async def _republish_retained(self) -> None:
        for topic in list(self._retained):
            if topic in self._queued_retained:
                continue  # the queue holds a newer one, sent below in its place
            payload = self._retained.get(topic)
            if payload is not None:
                await self.bus.publish(topic, payload, qos=RETAINED_QOS, retain=True)

    async def _send_queue(self) -> None:
        while self._queue:
            entry = self._queue[0]
            if entry.live:
                await self.bus.publish(entry.topic, entry.payload, qos=_qos(entry.retain), retain=entry.retain)
            self._queue.popleft()
            if entry.live:
                self._live -= 1
                entry.live = False
                if entry.retain and self._queued_retained.get(entry.topic) is entry:
                    del self._queued_retained[entry.topic]

    def _remember(self, topic: str, data: bytes) -> None:
        self._retained[topic] = data
        self._retained.move_to_end(topic)
        while len(self._retained) > self.max_retained:
            self._retained.popitem(last=False)

    def _enqueue(self, topic: str, data: bytes, retain: bool) -> None:
        entry = _Queued(topic, data, retain)
        if retain:
            older = self._queued_retained.get(topic)
            if older is not None and older.live:
                older.live = False
                self._live -= 1
            self._queued_retained[topic] = entry
        self._queue.append(entry)
        self._live += 1
        if self._live > self.max_queued:
            self._drop_oldest()
        if len(self._queue) > 2 * self.max_queued and not self._flushing:
            self._queue = deque(e for e in self._queue if e.live)  # replaced entries take no room

    def _drop_oldest(self) -> None:
        """Make room: the oldest event goes, or failing that the oldest retained message (``flush``
        republishes it from memory if it is still remembered)."""
        victim = next((e for e in self._queue if e.live and not e.retain), None)
        if victim is None:
            victim = next(e for e in self._queue if e.live)
            del self._queued_retained[victim.topic]
        else:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                log.warning(
                    "outbox of %s: %d messages wait for the broker; dropped the oldest event (%d so far)",
                    self.bus.client_id,
                    self._live,
                    self.dropped,
                )
        victim.live = False
        self._live -= 1


def _qos(retain: bool) -> int:
    return RETAINED_QOS if retain else EVENT_QOS
