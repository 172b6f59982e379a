"""Running a fleet: one broker, the homes split into shards, a worker per shard, and the figures.

```python
options = FleetOptions(template=load_home("demo"), homes=200, workers=2, broker=BrokerChoice.parse("mosquitto"))
result = await run_fleet(options, progress=print)      # progress: a Progress about once a second
```

The broker: ``mosquitto`` is started here, with every login of every home (passwords derived
from a fresh fleet secret, fleet/homes.py) and the contract's access control; ``embedded`` too,
but only for a small fleet (``EMBEDDED_MAX_DEVICES``: it routes every message in Python, in this
process); a URL is the operator's broker, with its one login or a logins file.

The workers (``--workers K``) are processes on this machine (fleet/worker.py), or Ray actors
(``--ray``, fleet/on_ray.py), each running one shard. ``--shard I/N`` runs this process's share
of the homes (every N-th home from the I-th) in this process, for schedulers that start N copies
of a command with an index each (a Kubernetes Indexed Job, deploy/kubernetes/).

A worker that dies and comes back (Ray restarts its actor) starts its counters again: the fleet
keeps what the earlier one had counted and adds the new one's (``restarts`` counts the returns).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from hyperhome.broker.launch import BrokerChoice, launch_broker
from hyperhome.errors import ConfigError, HyperHomeError
from hyperhome.fleet import homes
from hyperhome.fleet.plan import DAY_S, Join
from hyperhome.fleet.shard import BrokerSpec, ShardSpec
from hyperhome.fleet.stats import COUNTERS, EDGES_MS, delta, p99_ms, total
from hyperhome.home.homefile import HomeFile
from hyperhome.limits import raise_open_files_limit

EMBEDDED_MAX_DEVICES = 250
"""The embedded broker (amqtt) routes in Python, in the fleet's own process: about 25 homes of 9."""
TICK_S = 1.0
STOP_TIMEOUT_S = 60.0
START_SLACK_S = 60.0


class FleetError(HyperHomeError):
    """A worker could not be started or died."""


@dataclass(frozen=True)
class FleetOptions:
    template: HomeFile
    homes: int
    broker: BrokerChoice
    workers: int = 1
    seed: int = 1
    days: int = 1
    join: Join = "episode"
    speed: float = 1.0
    ramp: float = 50.0
    duration_s: float | None = None
    state_every_s: float = 10.0
    max_fps: float = 30.0
    shard: tuple[int, int] | None = None
    ray: str | None = None
    secret: str | None = field(default=None, repr=False)
    """The fleet secret the logins' passwords are derived from (default: a fresh one)."""


@dataclass
class Progress:
    """The fleet right now: totals, rates over the last tick, and each worker."""

    elapsed_s: float
    total: dict[str, Any]
    rates: dict[str, float]
    workers: list[dict[str, Any]]
    lag_p99_ms: float
    """Publish lag p99 of the last tick (all workers)."""
    broker: tuple[str, int]
    """Where the fleet's broker is (host, port)."""
    broker_pid: int | None = None
    """The managed Mosquitto's process (None for the others)."""


@dataclass
class FleetResult:
    settings: dict[str, Any]
    elapsed_s: float
    total: dict[str, Any]
    workers: list[dict[str, Any]]
    peak: dict[str, float] = field(default_factory=dict)

    @property
    def error_count(self) -> int:
        t = self.total
        return int(t["error_replies"] + t["error_replies_seen"] + t["flows_failed"] + t["publish_failed"])

    def as_json(self) -> dict[str, Any]:
        t = {k: v for k, v in self.total.items() if k != "lag"}
        return {
            "settings": self.settings,
            "elapsed_s": round(self.elapsed_s, 2),
            "total": t,
            "rates": {
                "msgs_in_per_s": round(t["msgs_in"] / max(self.elapsed_s, 1e-9), 1),
                "msgs_out_per_s": round(t["msgs_out"] / max(self.elapsed_s, 1e-9), 1),
            },
            "peak": self.peak,
            "errors": self.error_count,
            "workers": [{k: v for k, v in w.items() if k != "lag"} for w in self.workers],
        }


class Workers(Protocol):
    """Where shards run: processes here (``Processes``) or Ray actors (fleet/on_ray.py)."""

    async def start(self, specs: list[ShardSpec]) -> None: ...

    async def poll(self) -> dict[str, dict[str, Any]]:
        """Each worker's latest snapshot (a worker that has not reported yet is missing)."""
        ...

    async def stop(self) -> dict[str, dict[str, Any]]:
        """Stop every worker cleanly (bounded) and return its last snapshot."""
        ...


def check(options: FleetOptions) -> None:
    """ConfigError for options that cannot work, before anything starts."""
    devices = options.homes * len(options.template.devices)
    if options.homes < 1:
        msg = "--homes must be at least 1"
        raise ConfigError(msg)
    if options.broker.kind == "embedded" and devices > EMBEDDED_MAX_DEVICES:
        msg = (
            f"the embedded broker routes in Python in this process: at most {EMBEDDED_MAX_DEVICES} devices "
            f"(this fleet has {devices:,}); use --broker mosquitto or a broker URL"
        )
        raise ConfigError(msg)
    if options.shard is not None:
        index, count = options.shard
        if not 0 <= index < count:
            msg = f"--shard {index}/{count}: the index must be 0 to {count - 1}"
            raise ConfigError(msg)
        if options.broker.kind != "url":
            msg = "--shard runs one share of a fleet whose other shares run elsewhere: give them one --broker URL"
            raise ConfigError(msg)
        if options.ray is not None:
            msg_0 = "--shard and --ray are two ways of placing shards: use one"
            raise ConfigError(msg_0)
        if options.homes < count:
            msg = f"--shard {index}/{count}: {options.homes} homes cannot make {count} shares"
            raise ConfigError(msg)
    if options.workers < 1:
        msg_0 = "--workers must be at least 1"
        raise ConfigError(msg_0)


def our_homes(options: FleetOptions) -> list[tuple[int, str]]:
    """This run's homes (index, id): all of them, or this ``--shard``'s share."""
    every = [(i, homes.home_id(options.template, i)) for i in range(options.homes)]
    if options.shard is None:
        return every
    index, count = options.shard
    parts = split(every, count)
    return parts[index] if index < len(parts) else []


def split(items: list[tuple[int, str]], parts: int) -> list[list[tuple[int, str]]]:
    """Consecutive blocks of nearly equal size: the join kinds go round over consecutive homes
    (fleet/plan.py), so each block has the same mix (every N-th home would not, when N and the
    number of kinds have a common factor: all calls in one shard)."""
    size, extra = divmod(len(items), parts)
    out, first = [], 0
    for k in range(parts):
        last = first + size + (1 if k < extra else 0)
        out.append(items[first:last])
        first = last
    return [s for s in out if s]


def days_end_s(options: FleetOptions) -> float:
    """Wall seconds until the homes' simulated days end (each lives ``days`` days from joining)."""
    return options.days * DAY_S / options.speed


@contextlib.asynccontextmanager
async def fleet_broker(
    options: FleetOptions, ours: list[tuple[int, str]]
) -> AsyncIterator[tuple[BrokerSpec, int | None]]:
    """The fleet's broker: started here for these homes' logins, or the one at the URL; and the
    managed Mosquitto's pid."""
    choice = options.broker
    if choice.kind == "url":
        assert choice.host is not None
        assert choice.port is not None
        spec = BrokerSpec(
            host=choice.host,
            port=choice.port,
            username=choice.username,
            password=choice.password,
            logins=choice.logins,
            tls=choice.tls,
        )
        yield spec, None
        return
    secret = options.secret or homes.new_secret()
    creds = [homes.credentials(options.template, home, secret) for _, home in ours]
    raise_open_files_limit(len(ours) * (len(options.template.devices) + 3) + 256)
    async with launch_broker(choice, creds) as (ready, broker):
        pid = getattr(broker, "pid", None)
        yield BrokerSpec(host=ready[0].host, port=ready[0].port, secret=secret), pid


def specs_for(options: FleetOptions, broker: BrokerSpec, ours: list[tuple[int, str]]) -> list[ShardSpec]:
    parts = split(ours, options.workers)
    template = homes.template_json(options.template)
    tag = f"s{options.shard[0]}-" if options.shard else ""
    return [
        ShardSpec(
            name=f"{tag}w{k}",
            template=template,
            homes=part,
            seed=options.seed,
            days=options.days,
            join=options.join,
            speed=options.speed,
            ramp=options.ramp / len(parts),
            state_every_s=options.state_every_s,
            max_fps=options.max_fps,
            broker=broker,
        )
        for k, part in enumerate(parts)
    ]


class _Accounts:
    """Each worker's counters over its lives: a restarted worker starts from zero again."""

    def __init__(self) -> None:
        self.latest: dict[str, dict[str, Any]] = {}
        self.base: dict[str, dict[str, Any]] = {}
        self.lives: dict[str, tuple[int, str]] = {}

    def update(self, snaps: dict[str, dict[str, Any]]) -> None:
        for name, snap in snaps.items():
            life = (snap["pid"], snap["host"])
            before = self.latest.get(name)
            if name in self.lives and self.lives[name] != life and before is not None:
                base = self.base.get(name)
                self.base[name] = before if base is None else _add(base, before)
                self.base[name]["restarts"] = self.base[name].get("restarts", 0) + 1
            self.lives[name] = life
            self.latest[name] = snap

    def workers(self) -> list[dict[str, Any]]:
        out = []
        for name in sorted(self.latest):
            snap = self.latest[name]
            base = self.base.get(name)
            merged = snap if base is None else {**_add(base, snap), **_live(snap)}
            out.append(merged)
        return out


def _add(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = {**b}
    for name in COUNTERS:
        out[name] = a.get(name, 0) + b.get(name, 0)
    out["lag"] = [x + y for x, y in zip(a["lag"], b["lag"], strict=True)]
    kinds = dict(a.get("flow_kinds", {}))
    for kind, n in b.get("flow_kinds", {}).items():
        kinds[kind] = kinds.get(kind, 0) + n
    out["flow_kinds"] = kinds
    out["errors"] = [*a.get("errors", []), *b.get("errors", [])][:20]
    out["cpu_s"] = a.get("cpu_s", 0) + b.get("cpu_s", 0)
    return out


def _live(snap: dict[str, Any]) -> dict[str, Any]:
    """What is not a sum over lives: what the worker has now."""
    keep = ("worker", "pid", "host", "node", "uptime_s", "rss_mb", "devices_online", "homes", "devices", "homes_up")
    return {k: snap[k] for k in keep if k in snap}


async def run_fleet(
    options: FleetOptions,
    *,
    progress: Callable[[Progress], None] = lambda _: None,
    stop: asyncio.Event | None = None,
    workers: Workers | None = None,
) -> FleetResult:
    """Run the fleet until ``duration_s``, the end of its days, or ``stop``; its figures."""
    check(options)
    ours = our_homes(options)
    settings = {
        "template": options.template.home,
        "homes": options.homes,
        "homes_here": len(ours),
        "home_ids": [ours[0][1], ours[-1][1]] if ours else [],
        "devices_here": len(ours) * len(options.template.devices),
        "workers": options.workers,
        "seed": options.seed,
        "days": options.days,
        "join": options.join,
        "speed": options.speed,
        "ramp_homes_per_s": options.ramp,
        "duration_s": options.duration_s,
        "state_every_s": options.state_every_s,
        "max_fps": options.max_fps,
        "broker": options.broker.describe(),
        "shard": None if options.shard is None else f"{options.shard[0]}/{options.shard[1]}",
        "ray": options.ray,
        "cores": os.cpu_count(),
    }
    end_s = days_end_s(options)
    if options.duration_s is not None:
        end_s = min(end_s, options.duration_s)
    async with fleet_broker(options, ours) as (broker, broker_pid):
        specs = specs_for(options, broker, ours)
        pool = workers or (_ray_workers(options.ray) if options.ray is not None else Processes())
        accounts = _Accounts()
        peak: dict[str, float] = {}
        began = time.monotonic()
        await pool.start(specs)
        try:
            before: dict[str, Any] | None = None
            before_at = began
            stopper = stop or asyncio.Event()
            while (elapsed := time.monotonic() - began) < end_s and not stopper.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(TICK_S):
                        await stopper.wait()
                accounts.update(await pool.poll())
                now = time.monotonic()
                current = total(accounts.workers()) if accounts.latest else None
                if current is None:
                    continue
                change = delta(current, before)
                span = max(now - before_at, 1e-9)
                rates = {name: change[name] / span for name in ("msgs_in", "msgs_out", "commands", "beats_done")}
                for name, value in rates.items():
                    peak[f"{name}_per_s"] = round(max(peak.get(f"{name}_per_s", 0.0), value), 1)
                lag = p99_ms(change["lag"]) if before is not None else current["lag_p99_ms"]
                progress(
                    Progress(
                        elapsed,
                        current,
                        rates,
                        _with_cores(accounts.workers(), before_at, now),
                        lag,
                        (broker.host, broker.port),
                        broker_pid,
                    )
                )
                before, before_at = current, now
        finally:
            accounts.update(await pool.stop())
        elapsed = time.monotonic() - began
    final_workers = accounts.workers()
    return FleetResult(settings, elapsed, total(final_workers) if final_workers else _empty(), final_workers, peak)


def _empty() -> dict[str, Any]:
    return {
        **dict.fromkeys((*COUNTERS, "devices_online"), 0),
        "lag": [0] * len(EDGES_MS),
        "lag_p99_ms": 0.0,
        "flow_kinds": {},
        "errors": [],
    }


_cpu_seen: dict[str, tuple[float, float]] = {}


def _with_cores(workers: list[dict[str, Any]], _since: float, now: float) -> list[dict[str, Any]]:
    """Each worker's snapshot with ``cores``: CPU seconds over wall seconds since the last tick."""
    out = []
    for w in workers:
        key = f"{w['worker']}:{w['pid']}"
        cpu, at = _cpu_seen.get(key, (w["cpu_s"], now - w["uptime_s"]))
        cores = (w["cpu_s"] - cpu) / max(now - at, 1e-9) if key in _cpu_seen else w["cpu_s"] / max(w["uptime_s"], 1e-9)
        _cpu_seen[key] = (w["cpu_s"], now)
        out.append({**w, "cores": round(cores, 3)})
    return out


def _ray_workers(address: str) -> Workers:
    from hyperhome.fleet.on_ray import RayWorkers

    return RayWorkers(address)


class Processes:
    """A worker process per shard on this machine (``python -m hyperhome.fleet.worker``)."""

    def __init__(self) -> None:
        self._children: dict[str, asyncio.subprocess.Process] = {}
        self._latest: dict[str, dict[str, Any]] = {}
        self._readers: list[asyncio.Task[None]] = []
        self._stderr: dict[str, list[str]] = {}

    async def start(self, specs: list[ShardSpec]) -> None:
        for spec in specs:
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "hyperhome.fleet.worker",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            assert child.stdin is not None
            child.stdin.write(spec.model_dump_json().encode() + b"\n")
            await child.stdin.drain()
            self._children[spec.name] = child
            self._readers.append(asyncio.create_task(self._read(spec.name, child)))
            self._readers.append(asyncio.create_task(self._errors(spec.name, child)))

    async def _read(self, name: str, child: asyncio.subprocess.Process) -> None:
        assert child.stdout is not None
        async for line in child.stdout:
            with contextlib.suppress(ValueError):
                self._latest[name] = json.loads(line)

    async def _errors(self, name: str, child: asyncio.subprocess.Process) -> None:
        assert child.stderr is not None
        tail = self._stderr.setdefault(name, [])
        async for line in child.stderr:
            tail.append(line.decode(errors="replace").rstrip())
            del tail[:-20]

    async def poll(self) -> dict[str, dict[str, Any]]:
        for name, child in self._children.items():
            if child.returncode is not None and not self._latest.get(name, {}).get("final"):
                tail = " | ".join(self._stderr.get(name, [])[-3:]) or "no output"
                msg = f"fleet worker {name} exited with code {child.returncode}: {tail}"
                raise FleetError(msg)
        return dict(self._latest)

    async def stop(self) -> dict[str, dict[str, Any]]:
        for child in self._children.values():
            if child.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(STOP_TIMEOUT_S):
                await asyncio.gather(*(c.wait() for c in self._children.values()))
                await asyncio.gather(*self._readers, return_exceptions=True)
        except TimeoutError:
            for child in self._children.values():
                if child.returncode is None:
                    child.kill()
            await asyncio.gather(*(c.wait() for c in self._children.values()))
        for task in self._readers:
            task.cancel()
        return dict(self._latest)
