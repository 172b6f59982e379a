"""What a fleet counts, per worker: plain counters and a latency histogram, summed across workers.

A worker's ``Stats`` only grow (counters since start-up); ``snapshot()`` is their JSON, which a
worker hands to the fleet (on its stdout, or as a Ray actor's return value) about once a second.
The fleet subtracts two snapshots for rates (messages per second) and for the p99 of the last
interval, and adds the workers' up for the totals. The histogram has fixed log-spaced buckets
(25 % apart, 0.1 ms to about a minute) so that histograms add up exactly, whatever the worker.
"""

from __future__ import annotations

import bisect
import math
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_FIRST_MS = 0.1
_RATIO = 1.25
EDGES_MS: tuple[float, ...] = tuple(_FIRST_MS * _RATIO**k for k in range(64))
"""Upper edges of the histogram's buckets (the last one takes everything above)."""
ERRORS_KEPT = 20


def bucket(ms: float) -> int:
    return min(bisect.bisect_left(EDGES_MS, ms), len(EDGES_MS) - 1)


def p99_ms(counts: list[int] | tuple[int, ...], pct: float = 99.0) -> float:
    """The ``pct`` percentile of a histogram, as its bucket's upper edge (0 when empty)."""
    total = sum(counts)
    if total <= 0:
        return 0.0
    rank = math.ceil(total * pct / 100)
    seen = 0
    for index, count in enumerate(counts):
        seen += count
        if seen >= rank:
            return round(EDGES_MS[index], 2)
    return round(EDGES_MS[-1], 2)


COUNTERS = (
    "homes",
    "homes_up",
    "home_start_retries",
    "devices",
    "msgs_out",
    "msgs_in",
    "publish_failed",
    "beats_due",
    "beats_done",
    "commands",
    "error_replies",
    "replies_seen",
    "error_replies_seen",
    "flows_started",
    "flows_succeeded",
    "flows_failed",
    "flows_cancelled",
    "restarts",
)


@dataclass
class Stats:
    """One worker's counters (``COUNTERS``), its devices online now, and the publish-lag histogram."""

    counts: Counter[str] = field(default_factory=Counter)
    lag: list[int] = field(default_factory=lambda: [0] * len(EDGES_MS))
    flow_kinds: Counter[str] = field(default_factory=Counter)
    """``{kind}:{state}`` for every flow that ended, and ``{kind}:started``."""
    errors: list[str] = field(default_factory=list)
    devices_online: int = 0
    started: float = field(default_factory=time.monotonic)

    def add(self, name: str, n: int = 1) -> None:
        self.counts[name] += n

    def lag_s(self, seconds: float) -> None:
        self.lag[bucket(seconds * 1000)] += 1

    def error(self, text: str) -> None:
        if len(self.errors) < ERRORS_KEPT:
            self.errors.append(text)

    def snapshot(self, worker: str) -> dict[str, Any]:
        return {
            "worker": worker,
            "pid": os.getpid(),
            "host": os.uname().nodename,
            "uptime_s": round(time.monotonic() - self.started, 3),
            "cpu_s": round(time.process_time(), 3),
            "rss_mb": round(rss_kb() / 1024, 1),
            "devices_online": self.devices_online,
            **{name: self.counts[name] for name in COUNTERS},
            "lag": list(self.lag),
            "flow_kinds": dict(self.flow_kinds),
            "errors": list(self.errors),
        }


def rss_kb() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def total(snapshots: list[dict[str, Any]]) -> dict[str, Any]:
    """The fleet's sums over the workers' latest snapshots."""
    out: dict[str, Any] = {name: sum(s[name] for s in snapshots) for name in (*COUNTERS, "devices_online")}
    lag = [0] * len(EDGES_MS)
    kinds: Counter[str] = Counter()
    for s in snapshots:
        lag = [a + b for a, b in zip(lag, s["lag"], strict=True)]
        kinds.update(s["flow_kinds"])
    out["lag"] = lag
    out["lag_p99_ms"] = p99_ms(lag)
    out["flow_kinds"] = dict(sorted(kinds.items()))
    out["errors"] = [e for s in snapshots for e in s["errors"]][:ERRORS_KEPT]
    return out


def delta(now: dict[str, Any], before: dict[str, Any] | None) -> dict[str, Any]:
    """What changed between two snapshots of one worker (or two totals): counters and histogram."""
    if before is None:
        return {**now}
    out = {name: now[name] - before.get(name, 0) for name in COUNTERS}
    out["lag"] = [a - b for a, b in zip(now["lag"], before["lag"], strict=True)]
    for name in ("cpu_s", "uptime_s"):
        if name in now:
            out[name] = now[name] - before.get(name, 0)
    return out
