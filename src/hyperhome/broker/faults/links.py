"""Links in simulated time: what latency and a stall mean in virtual time.

In virtual time the wire has no time of its own: the barrier (``broker/sync.py``) holds the clock
until every message in flight has arrived, so a real delay on the wire would change nothing a
scenario can see (simulated time does not move while the barrier waits for it) and a real stall
would hold every barrier round until it timed out. So in virtual time the barrier plays the link
instead, in simulated seconds: a message that crosses a link with latency ``L`` is handed to its
receiver ``L`` simulated seconds after it was published (``L_a + L_b`` when both the publisher's
and the receiver's links have one), and a message that would cross a stalled link is held
until the stall ends. The bytes themselves cross the real broker at once; only their release to
the receiving handlers is delayed, which is what a device sees of a slow or silent network.

Order is kept as TCP keeps it: on one link nothing overtakes what went before (after the
latency is lowered, nothing arrives before what was already on its way under the old one), and
what a stall held is released at once when it ends, in the order of the instant (causal, then
publisher).

``LinkModel`` is pure bookkeeping, keyed by member name (a device id): no clock, no sockets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class _Link:
    latency_s: float = 0.0
    out_floor: float = -math.inf
    """Nothing sent from now on leaves the link before this (what is on its way under a higher latency)."""
    in_floor: float = -math.inf
    last_out: float = -math.inf
    """When the latest message that left through this link so far did (before stalls)."""
    last_in: float = -math.inf
    stalls: list[list[float]] = field(default_factory=list)
    """[start, end] of each stall, in order; end is ``inf`` while it lasts."""

    @property
    def stalled(self) -> bool:
        return bool(self.stalls) and self.stalls[-1][1] == math.inf

    def through(self, t: float) -> float:
        """When something that would arrive at ``t`` does, given the stalls."""
        for start, end in self.stalls:
            if start <= t < end:
                t = end
        return t


@dataclass(frozen=True, slots=True)
class Passage:
    """What the links made of one message when it arrived: enough to say, later, when it is due."""

    publisher: str | None
    receiver: str
    leaves_s: float
    """When it leaves the publisher's link (before stalls): sent + the publisher's latency."""
    receiver_latency_s: float
    receiver_floor: float


class LinkModel:
    """Latency and stalls of each member's link, in simulated seconds; see the module docstring."""

    def __init__(self) -> None:
        self._links: dict[str, _Link] = {}

    def __bool__(self) -> bool:
        return any(link.latency_s or link.stalls for link in self._links.values())

    def set_latency(self, name: str, latency_s: float, now: float) -> None:
        link = self._links.setdefault(name, _Link())
        if latency_s < link.latency_s:
            link.out_floor = max(link.out_floor, link.last_out)
            link.in_floor = max(link.in_floor, link.last_in)
        link.latency_s = latency_s

    def stall(self, name: str, now: float) -> None:
        link = self._links.setdefault(name, _Link())
        if not link.stalled:
            link.stalls.append([now, math.inf])

    def resume(self, name: str, now: float) -> None:
        link = self._links.get(name)
        if link is not None and link.stalled:
            link.stalls[-1][1] = now

    def clear(self, name: str, now: float) -> None:
        """Back to a plain link (what is held or in flight still arrives as it would)."""
        self.resume(name, now)
        self.set_latency(name, 0.0, now)

    def latency_s(self, name: str) -> float:
        link = self._links.get(name)
        return link.latency_s if link is not None else 0.0

    def stalled(self, name: str) -> bool:
        link = self._links.get(name)
        return link is not None and link.stalled

    def affects(self, publisher: str | None, receiver: str) -> bool:
        """Whether a message from ``publisher`` (None: the broker) to ``receiver`` crosses a faulty link."""
        return (publisher is not None and publisher in self._links) or receiver in self._links

    def passage(self, sent: float, publisher: str | None, receiver: str) -> Passage:
        """A message published at ``sent`` from ``publisher`` (None: the broker) to ``receiver``."""
        leaves = sent
        if publisher is not None and (out := self._links.get(publisher)) is not None:
            leaves = max(sent + out.latency_s, out.out_floor)
            out.last_out = max(out.last_out, leaves)
        into = self._links.get(receiver)
        if into is None:
            return Passage(publisher, receiver, leaves, 0.0, -math.inf)
        into.last_in = max(into.last_in, leaves + into.latency_s, into.in_floor)
        return Passage(publisher, receiver, leaves, into.latency_s, into.in_floor)

    def left_at(self, passage: Passage) -> float:
        """When the message leaves its publisher's link, given the stalls (``inf``: held still)."""
        out = self._links.get(passage.publisher) if passage.publisher is not None else None
        return out.through(passage.leaves_s) if out is not None else passage.leaves_s

    def due(self, passage: Passage) -> float:
        """When the message reaches its receiver (``inf`` while a stall holds it)."""
        left = self.left_at(passage)
        arrives = max(left + passage.receiver_latency_s, passage.receiver_floor)
        into = self._links.get(passage.receiver)
        return into.through(arrives) if into is not None else arrives
