"""fleet: how many devices of whole homes this machine holds, with the managed Mosquitto beside them.

For each size N devices (``--fleet-devices 2000,5000,10000,20000``) a fresh ``hyperhome fleet``
run (fleet/run.py) brings up ceil(N / 9) demo homes, each device its own MQTT connection and
login, on ``--workers`` worker processes (one per core by default) and a managed Mosquitto on
this machine. Every device republishes its retained state every ``period_s`` (10 s) on top of
the homes' own traffic (their day's flows, automations, voice, camera frames). After every
home is up and one period has passed, the bench measures a window of ``window_s``:

- **holds**: at least 95 % of the state publishes due in the window were acknowledged in it
  and their publish lag (due -> PUBACK) has a p99 under one second;
- **where the cost goes**: the workers' CPU (cores, and microseconds per message sent or
  received), Mosquitto's CPU (cores) and memory, the workers' memory per device, and the
  machine's idle share;
- errors: error replies and failed flows during the whole step.

The homes join their days at any moment (``join="anytime"``, ``--join anytime``: the mix of a
real day, what a back end meets in steady state), or each just before one of its episodes
(``--join episode``: about one home in six on a 30 fps video call at once, the busiest mix).

The first size that does not hold ends the run (the larger ones are not tried).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import time
from typing import Any

from hyperhome.bench.report import BenchError, BenchResult, Progress, cpu_seconds, figures_table, quiet, rss_kb
from hyperhome.broker.launch import BrokerChoice
from hyperhome.errors import HyperHomeError
from hyperhome.fleet import run as fleet_run
from hyperhome.fleet.plan import Join
from hyperhome.fleet.stats import p99_ms
from hyperhome.home.homefile import load_home

PERIOD_S = 10.0
WINDOW_S = 30.0
HOLDS_PUBLISHED = 0.95
HOLDS_LAG_MS = 1000.0
TARGET_DEVICES = 20_000
SIZES = (2000, 5000, 10_000, 20_000)
RAMP_HOMES_PER_S = 40.0
STALL_S = 60.0
"""A size fails once no further home came up for this long."""


async def run(
    *,
    devices: list[int],
    workers: int | None = None,
    join: Join = "anytime",
    period_s: float = PERIOD_S,
    window_s: float = WINDOW_S,
    template: str = "demo",
    progress: Progress = quiet,
) -> BenchResult:
    home = load_home(template)
    per_home = len(home.devices)
    steps: list[dict[str, Any]] = []
    for count in sorted(devices):
        failed = next((s["devices"] for s in steps if not s["holds"]), None)
        if failed is not None:
            steps.append({"devices": count, "holds": False, "error": f"not tried: {failed:,} devices did not hold"})
            continue
        homes = math.ceil(count / per_home)
        progress(
            f"fleet: {homes:,} homes ({homes * per_home:,} devices) on mosquitto, joining their days {join}, "
            f"{window_s:g} s window"
        )
        try:
            steps.append(await _step(home, homes, workers or os.cpu_count() or 1, join, period_s, window_s))
        except HyperHomeError as exc:  # it could not even start (the broker, a worker): it does not hold
            steps.append({"devices": homes * per_home, "holds": False, "error": str(exc)})
    held = [s["devices"] for s in steps if s["holds"]]
    _marginal(steps)
    figures = {"mosquitto": {"max_devices_held": max(held, default=0), "join": join, "steps": steps}}
    notes = []
    if max(held, default=0) < TARGET_DEVICES:
        notes.append(f"fleet on mosquitto: held {max(held, default=0):,} devices (target {TARGET_DEVICES:,})")
    return BenchResult("fleet", figures, table=_table(steps, period_s, join), notes=notes)


async def _step(home: Any, homes: int, workers: int, join: Join, period_s: float, window_s: float) -> dict[str, Any]:
    options = fleet_run.FleetOptions(
        template=home,
        homes=homes,
        broker=BrokerChoice.parse("mosquitto"),
        workers=workers,
        join=join,
        speed=1.0,
        ramp=RAMP_HOMES_PER_S,
        state_every_s=period_s,
    )
    devices = homes * len(home.devices)
    stop = asyncio.Event()
    marks: dict[str, Any] = {}
    ramp_s = homes / RAMP_HOMES_PER_S
    # coming up may take longer than the ramp asks (a saturated machine starts homes more slowly:
    # that time is reported, as connect_s); a size fails when no home came up for STALL_S, or
    # past a last bound
    bound_s = 60 + 10 * ramp_s + period_s
    progress_at = {"homes_up": -1, "at": 0.0}

    def seen(p: fleet_run.Progress) -> None:
        now = time.monotonic()
        if "up" not in marks:
            up = p.total["homes_up"]
            if up > progress_at["homes_up"]:
                progress_at.update(homes_up=up, at=p.elapsed_s)
            if up == homes and p.total["devices_online"] == devices:
                marks["up"] = now
                marks["connect_s"] = p.elapsed_s
            elif p.elapsed_s > bound_s or p.elapsed_s - progress_at["at"] > STALL_S:
                marks["failed"] = f"{up:,} of {homes:,} homes up after {p.elapsed_s:.0f} s"
                stop.set()
            return
        if "begin" not in marks and now - marks["up"] >= period_s:
            marks["begin"] = _mark(p, now)
        elif "begin" in marks and now - marks["begin"]["at"] >= window_s:
            marks["end"] = _mark(p, now)
            stop.set()

    result = await fleet_run.run_fleet(options, progress=seen, stop=stop)
    if "failed" in marks or "end" not in marks:
        msg = marks.get("failed", "the fleet ended before the window did")
        why = f"fleet with {devices:,} devices: {msg}"
        raise BenchError(why)
    a, b = marks["begin"], marks["end"]
    wall = b["at"] - a["at"]
    due = devices * wall / period_s
    done = b["beats_done"] - a["beats_done"]
    lag = p99_ms([y - x for x, y in zip(a["lag"], b["lag"], strict=True)])
    msgs = (b["msgs_in"] - a["msgs_in"]) + (b["msgs_out"] - a["msgs_out"])
    cpu = b["cpu_s"] - a["cpu_s"]
    broker_cores = None if a["broker_cpu"] is None else round((b["broker_cpu"] - a["broker_cpu"]) / wall, 3)
    t = result.total
    return {
        "devices": devices,
        "homes": homes,
        "workers": workers,
        "holds": done >= HOLDS_PUBLISHED * due and lag < HOLDS_LAG_MS,
        "publishes_done_pct": round(100 * done / max(due, 1), 1),
        "lag_p99_ms": lag,
        "msgs_per_s": round(msgs / wall, 1),
        "worker_cores": round(cpu / wall, 3),
        "us_per_message": round(1e6 * cpu / max(msgs, 1), 1),
        "broker_cores": broker_cores,
        "broker_rss_mb": b["broker_rss_mb"],
        "broker_kb_per_device": None if b["broker_rss_mb"] is None else round(b["broker_rss_mb"] * 1024 / devices, 2),
        "workers_rss_mb": b["rss_mb"],
        "rss_kb_per_device": round(b["rss_mb"] * 1024 / devices, 1),
        "connect_s": round(marks["connect_s"], 1),
        "idle_pct": None
        if a["idle"] is None
        else round(100 * (b["idle"] - a["idle"]) / (wall * (os.cpu_count() or 1)), 1),
        "flows_succeeded": t["flows_succeeded"],
        "errors": result.error_count,
    }


def _mark(p: fleet_run.Progress, now: float) -> dict[str, Any]:
    pid = p.broker_pid
    idle = _idle_s()
    return {
        "at": now,
        "beats_done": p.total["beats_done"],
        "lag": list(p.total["lag"]),
        "msgs_in": p.total["msgs_in"],
        "msgs_out": p.total["msgs_out"],
        "cpu_s": sum(w["cpu_s"] for w in p.workers),
        "rss_mb": round(sum(w["rss_mb"] for w in p.workers), 1),
        "broker_cpu": cpu_seconds(pid) if pid else None,
        "broker_rss_mb": round(rss_kb(pid) / 1024, 1) if pid else None,
        "idle": idle,
    }


def _idle_s() -> float | None:
    """Idle seconds of the whole machine so far (all cores, /proc/stat), or None."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    return int(fields[4]) / (os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100)


def _marginal(steps: list[dict[str, Any]]) -> None:
    """Memory per added device between two measured sizes: what the fixed costs do not blur."""
    measured = [s for s in steps if "error" not in s]
    for before, after in itertools.pairwise(measured):
        added = after["devices"] - before["devices"]
        after["marginal_kb_per_device"] = round((after["workers_rss_mb"] - before["workers_rss_mb"]) * 1024 / added, 1)


def _table(steps: list[dict[str, Any]], period_s: float, join: Join) -> Any:
    rows: list[list[Any]] = []
    for s in steps:
        if "error" in s:
            rows.append([s["devices"], False, *[None] * 9, s["error"]])
            continue
        rows.append(
            [
                s["devices"],
                s["holds"],
                s["publishes_done_pct"],
                s["lag_p99_ms"],
                s["msgs_per_s"],
                f"{s['worker_cores']:g} ({s['workers']})",
                s["us_per_message"],
                "-" if s["broker_cores"] is None else f"{s['broker_cores']:g} / {s['broker_rss_mb']:g} MB",
                s["rss_kb_per_device"],
                s.get("marginal_kb_per_device"),
                s["idle_pct"],
                f"{s['errors']} errors, {s['flows_succeeded']} flows ok",
            ]
        )
    return figures_table(
        f"fleet: demo homes on this machine, managed Mosquitto, a state publish per device each {period_s:g} s, "
        f"real time, homes joining their days {join}",
        [
            "devices",
            "holds",
            "publishes done %",
            "lag p99 ms",
            "msgs/s",
            "worker cores (workers)",
            "µs CPU / msg",
            "broker cores / RSS",
            "worker KiB/device",
            "marginal KiB/device",
            "machine idle %",
            "note",
        ],
        rows,
    )
