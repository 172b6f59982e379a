"""The live event stream behind ``WS /api/events``: one MQTT client, many browsers.

``EventHub`` listens on the app's one controller connection and hands each message to every
``Subscriber`` (one per WebSocket) whose topic filters match. Filters are written relative to
the home (``+/state``, ``tablet/#``, ``phone/stream/rear``) or in full
(``hyperhome/demo/+/state``); either way they must stay inside the home, and the barrier's
``$sync`` topics are never forwarded.

Frames (``stream/...``) are the only heavy traffic: the hub subscribes to them at the broker only
while some subscriber's filters reach them, and each subscriber gets at most one frame per
stream topic every ``FRAME_INTERVAL_S`` (the newest one; the frame's ``seq`` tells how many were
skipped). A subscriber that falls ``MAX_QUEUE`` messages behind is dropped; its browser
reconnects and starts again from a snapshot, so no state is lost.

No secret is forwarded: commands never (they carry them), and replies only through the
``Redactor`` (redact.py), which drops what the devices' ``$meta`` mark as secret.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from hyperhome.broker.filters import cover, within
from hyperhome.broker.topics import SYNC, Topics

if TYPE_CHECKING:
    from hyperhome.broker.client import Bus, Message
    from hyperhome.web.redact import Redactor

FRAME_INTERVAL_S = 0.1
"""At most 10 frames a second per stream to a browser: a counter and a test pattern need no more."""
MAX_QUEUE = 2000
"""Messages waiting for one WebSocket before it is dropped (a minute of a busy home's state)."""
MAX_FILTER_LEN = 256
STREAMS = "+/stream/#"
"""Relative filter of every frame topic."""

_TYPES = {
    "$meta": "meta",
    "$availability": "availability",
    "state": "state",
    "event": "event",
    "reply": "reply",
    "stream": "frame",
    "flow": "flow",
}
"""What a browser may see, by topic kind. Never ``cmd``: commands carry secrets (a door PIN in
``unlock``, the hotspot password network_share hands the tablet) that only their device may read."""


class FilterError(ValueError):
    """A topic filter a client sent is malformed or reaches outside the home."""


def parse_filter(text: str, topics: Topics) -> str:
    """The absolute MQTT filter for ``text`` (relative to the home, or absolute inside it)."""
    if not text or len(text) > MAX_FILTER_LEN:
        msg = f"a topic filter has 1 to {MAX_FILTER_LEN} characters, not {len(text)}"
        raise FilterError(msg)
    if "\x00" in text:
        msg = "a topic filter cannot contain NUL"
        raise FilterError(msg)
    absolute = text if text.startswith(f"{topics.root}/") else f"{topics.base}/{text}"
    levels = absolute.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            msg = f"{text!r}: '#' must be a whole level and the last one"
            raise FilterError(msg)
        if "+" in level and level != "+":
            msg = f"{text!r}: '+' must be a whole level"
            raise FilterError(msg)
    if levels[:2] != [topics.root, topics.home] or len(levels) < 3:
        msg = f"{text!r} is outside the home: filters must stay under {topics.base}/"
        raise FilterError(msg)
    if levels[2] == SYNC:
        msg = f"{text!r}: the clock's {SYNC} topics are internal"
        raise FilterError(msg)
    return absolute


def intersect(a: str, b: str) -> str | None:
    """The filter matching exactly the topics both ``a`` and ``b`` match (None if there are none)."""
    x, y = a.split("/"), b.split("/")
    out: list[str] = []
    for i in range(max(len(x), len(y))):
        p = x[i] if i < len(x) else None
        q = y[i] if i < len(y) else None
        if p == "#":  # 'a/#' also matches 'a' itself
            return "/".join(out + y[i:]) if q is not None else "/".join(out)
        if q == "#":
            return "/".join(out + x[i:]) if p is not None else "/".join(out)
        if p is None or q is None:
            return None
        if p == "+":
            out.append(q)
        elif q in ("+", p):
            out.append(p)
        else:
            return None
    return "/".join(out)


def event_of(message: Message, topics: Topics, redactor: Redactor) -> dict[str, Any] | None:
    """The JSON a browser gets for one message (None for topics outside the contract), secrets left out."""
    ref = topics.parse(message.topic)
    if ref is None or ref.kind not in _TYPES or ref.device == SYNC:
        return None
    data: Any
    try:
        data = message.json() if message.payload else None
    except ValueError:
        data = message.text
    if ref.kind == "reply":
        data = redactor.reply(ref.device, data) if isinstance(data, dict) else None
    return {
        "type": _TYPES[ref.kind],
        "topic": message.topic,
        "device": ref.device,
        "name": ref.name,
        "data": data,
    }


class Subscriber:
    """One WebSocket's filters and outgoing queue (frames coalesced per stream topic)."""

    def __init__(self, *, frame_interval_s: float = FRAME_INTERVAL_S, max_queue: int = MAX_QUEUE) -> None:
        self.filters: set[str] = set()
        self.frame_interval_s = frame_interval_s
        self.max_queue = max_queue
        self.overflowed = False
        self._queue: deque[str] = deque()
        self._ready = asyncio.Event()
        self._last_frame: dict[str, float] = {}
        self._pending_frames: dict[str, str] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def wants(self, topic: str) -> bool:
        return any(within(topic, f) for f in self.filters)

    def push(self, text: str) -> None:
        if self.overflowed:
            return
        if len(self._queue) >= self.max_queue:
            self.overflowed = True
            self._ready.set()
            return
        self._queue.append(text)
        self._ready.set()

    def push_frame(self, topic: str, text: str) -> None:
        """Send now if this stream's last frame went out long enough ago, else keep the newest."""
        loop = asyncio.get_running_loop()
        due = self._last_frame.get(topic, -math.inf) + self.frame_interval_s
        if topic not in self._timers and loop.time() >= due:
            self._last_frame[topic] = loop.time()
            self.push(text)
            return
        self._pending_frames[topic] = text
        if topic not in self._timers:
            self._timers[topic] = loop.call_at(due, self._flush_frame, topic)

    def _flush_frame(self, topic: str) -> None:
        self._timers.pop(topic, None)
        text = self._pending_frames.pop(topic, None)
        if text is not None:
            self._last_frame[topic] = asyncio.get_running_loop().time()
            self.push(text)

    async def next_batch(self, timeout_s: float) -> list[str]:
        """What is queued, once something is (empty after ``timeout_s`` of quiet)."""
        if not self._queue and not self.overflowed:
            self._ready.clear()
            try:
                async with asyncio.timeout(timeout_s):
                    await self._ready.wait()
            except TimeoutError:
                return []
        batch = list(self._queue)
        self._queue.clear()
        return batch

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._pending_frames.clear()


class EventHub:
    """Fans the home's messages out to subscribers; see the module docstring."""

    def __init__(self, bus: Bus, topics: Topics, redactor: Redactor) -> None:
        self.bus = bus
        self.topics = topics
        self.redactor = redactor
        self._subscribers: set[Subscriber] = set()
        self._stream_wants: dict[Subscriber, set[str]] = {}
        self._held_streams: set[str] = set()
        self._lock = asyncio.Lock()  # one change of the broker-side stream filters at a time

    async def attach(self) -> None:
        """Subscribe to everything of the home but frames and the barrier (call once)."""
        t = self.topics
        for topic_filter in (
            t.all_of("$meta"),
            t.all_of("state"),
            t.all_of("$availability"),
            t.all_of("event"),
            t.all_of("reply"),
            t.flow("+"),
        ):
            await self.bus.subscribe(topic_filter, self.on_message)

    def on_message(self, message: Message) -> None:
        if message.retain:  # a replay for a new broker-side subscription: snapshots cover it
            return
        wanting = [s for s in self._subscribers if s.wants(message.topic)]
        if not wanting:
            return
        event = event_of(message, self.topics, self.redactor)
        if event is None:
            return
        text = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        frame = event["type"] == "frame"
        for sub in wanting:
            if frame:
                sub.push_frame(message.topic, text)
            else:
                sub.push(text)

    # -- subscribers -----------------------------------------------------------------------------
    def add(self, sub: Subscriber, filters: Iterable[str]) -> None:
        """Start handing ``sub`` the messages its (absolute, validated) filters match, from now on.

        Synchronous, so a snapshot taken right after it and the messages that follow neither
        overlap nor leave a gap. Call ``sync_streams`` next to get frames it wants.
        """
        self._subscribers.add(sub)
        self._set(sub, filters)

    async def remove(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)
        sub.close()
        self._stream_wants.pop(sub, None)
        await self.sync_streams()

    async def set_filters(self, sub: Subscriber, filters: Iterable[str]) -> None:
        """Replace ``sub``'s (absolute, validated) filters; frames follow at the broker."""
        self._set(sub, filters)
        await self.sync_streams()

    def _set(self, sub: Subscriber, filters: Iterable[str]) -> None:
        sub.filters = set(filters)
        streams = (intersect(f, f"{self.topics.base}/{STREAMS}") for f in sub.filters)
        self._stream_wants[sub] = {s for s in streams if s is not None}

    async def sync_streams(self) -> None:
        """Hold at the broker a non-overlapping cover of the frame topics some subscriber wants."""
        async with self._lock:
            wanted = set(cover(sorted({f for fs in self._stream_wants.values() for f in fs})))
            for topic_filter in sorted(wanted - self._held_streams):
                await self.bus.subscribe(topic_filter, self.on_message, qos=0)
                self._held_streams.add(topic_filter)
            for topic_filter in sorted(self._held_streams - wanted):
                self._held_streams.discard(topic_filter)
                await self.bus.unsubscribe(topic_filter, self.on_message)

    @property
    def held_streams(self) -> frozenset[str]:
        """The frame filters held at the broker now (for tests and diagnostics)."""
        return frozenset(self._held_streams)
