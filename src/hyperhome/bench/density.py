"""density: how many devices one process holds, each with its own connection and login.

For each size N (``--devices 1000,5000``) a fresh broker gets N logins
(``HomeCredentials.generate``) and this process starts N devices of a small kind, ``Sensor``,
on the real-time clock. Each is a full ``Device``: its own MQTT connection and login, last will,
``$meta``/``state``/``$availability`` on connect, a ``cmd/#`` subscription, and one state
publish (QoS 1, retained, as the contract says) every ``period_s`` (10 s), the devices' phases
spread evenly over the period. After one period of warm-up the bench measures for ``window_s``:

- **cores**: this process's CPU time (``time.process_time``, every thread) over wall time;
  "holds" needs it under ``HOLDS_CORES`` (0.9): one asyncio thread can never use more than
  one core, so a process at 1.0 is not holding its devices but falling behind them;
- **RSS per device**: growth of this process's resident memory (``VmRSS``) since before the
  first device, over N; for the embedded broker that includes the broker's side of each
  connection, which lives in this process too;
- **publishes**: state publishes the broker acknowledged in the window against the N x window
  / period expected, and how late they were (scheduled time -> PUBACK, p99): "holds" needs
  95 % of them and a p99 under one second;
- the managed Mosquitto's own CPU and memory (/proc), for information.

With thousands of devices the heap holds millions of objects, and each of Python's full
garbage collections then stops the process for 0.5 to 0.7 s: that, not the CPU, is what makes
publishes late. ``freeze_heap`` (``--gc-freeze``) moves everything alive after start-up out of
the collector's reach (``gc.freeze()``), as a long-running server does and ``hyperhome up`` and
``hyperhome fleet`` do; it is off by default here, so the figures show what the collector costs.

Each connection costs a file descriptor here (two with the embedded broker) and one in
Mosquitto: the soft RLIMIT_NOFILE is raised to the hard limit first, which the Mosquitto child
inherits; Mosquitto's ``max_connections`` is unlimited by default.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import math
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field
from rich.markup import escape

from hyperhome.bench.report import (
    BenchError,
    BenchResult,
    Progress,
    broker_key,
    cpu_seconds,
    figures_table,
    percentile,
    quiet,
    rss_kb,
)
from hyperhome.broker.client import Endpoint, MqttConnector
from hyperhome.broker.credentials import HomeCredentials, TlsFiles
from hyperhome.broker.embedded import EmbeddedBroker
from hyperhome.broker.launch import BrokerChoice, open_broker
from hyperhome.broker.mosquitto import MosquittoBroker
from hyperhome.broker.topics import Topics
from hyperhome.devices.base import Device, DeviceSpec, DeviceState
from hyperhome.devices.clock import Clock, RealtimeClock
from hyperhome.errors import ConfigError, HyperHomeError
from hyperhome.limits import raise_open_files_limit

HOME = "density"
PERIOD_S = 10.0
"""The issue's load: one state publish per device every 10 s."""
WINDOW_S = 30.0
START_BATCH = 200
"""Devices connecting at once: aiomqtt connects in a thread pool, and a burst of thousands of
CONNECTs only queues up in the broker's accept backlog."""
CONNECT_BUDGET_S = 0.02
"""Seconds per device allowed for connecting (and again for stopping) before a step is given up."""
CHILD_SLACK_S = 60.0
HOLDS_CORES = 0.9
HOLDS_PUBLISHED = 0.95
HOLDS_LAG_S = 1.0
TARGET_DEVICES = 5000
"""The issue's target: at least 5,000 devices per process on Mosquitto."""


class SensorState(DeviceState):
    reading: int = Field(0, ge=0)
    """Counts the publishes, so every publish carries a new state."""


@dataclass
class _Tally:
    """Publishes acknowledged inside the window, and how late each was."""

    measuring: bool = False
    published: int = 0
    lags_s: list[float] = field(default_factory=list)


class Sensor(Device):
    """A minimal device kind for the bench: its state changes and is published every period."""

    kind = "bench_sensor"
    State = SensorState
    capabilities = ("sensor",)
    state: SensorState

    def __init__(
        self,
        spec: DeviceSpec,
        *,
        home: str,
        clock: Clock,
        topics: Topics,
        epoch: float,
        phase_s: float,
        period_s: float,
        tally: _Tally,
    ) -> None:
        super().__init__(spec, home=home, clock=clock, topics=topics)
        self._epoch, self._phase_s, self._period_s, self._tally = epoch, phase_s, period_s, tally

    async def on_start(self) -> None:
        await super().on_start()
        self._schedule()

    def _schedule(self) -> None:
        now = self.clock.now()
        k = math.floor((now - self._epoch - self._phase_s) / self._period_s) + 1
        due = self._epoch + self._phase_s + k * self._period_s
        self.at(due, lambda: self._tick(due))

    async def _tick(self, due: float) -> None:
        self._schedule()
        self.state.reading += 1
        await self.publish_state()
        if self._tally.measuring:
            self._tally.published += 1
            self._tally.lags_s.append(self.clock.now() - due)


async def run(
    brokers: Sequence[str | BrokerChoice],
    *,
    devices: list[int],
    period_s: float = PERIOD_S,
    window_s: float = WINDOW_S,
    freeze_heap: bool = False,
    progress: Progress = quiet,
) -> BenchResult:
    """``brokers``: choices, or texts as ``--broker`` takes them (each goes to the child process)."""
    if not devices or min(devices) < 1:
        msg = "--devices needs one or more sizes, each at least 1 (e.g. 1000,5000)"
        raise ConfigError(msg)
    choices = [BrokerChoice.parse(b) if isinstance(b, str) else b for b in brokers]
    figures: dict[str, Any] = {}
    for choice in choices:
        steps: list[dict[str, Any]] = []
        for count in sorted(devices):
            failed = next((step["devices"] for step in steps if not step["holds"]), None)
            if failed is not None:
                steps.append(_not_run(count, f"not tried: {failed:,} devices did not hold"))
                continue
            progress(f"density on {choice.describe()}: {count:,} devices in a fresh process, {window_s:g} s window")
            try:
                step = await _in_child(choice, count, period_s=period_s, window_s=window_s, freeze_heap=freeze_heap)
            except BenchError as exc:  # it could not even start them all: that size does not hold
                step = _not_run(count, str(exc))
            steps.append(step)
        held = [s["devices"] for s in steps if s["holds"]]
        figures[broker_key(choice)] = {"max_devices_held": max(held, default=0), "steps": steps}
    notes: list[str] = []
    return BenchResult("density", figures, table=_table(figures, notes, period_s), notes=notes)


def _not_run(count: int, why: str) -> dict[str, Any]:
    return {"devices": count, "holds": False, "error": why}


async def _in_child(
    choice: BrokerChoice, count: int, *, period_s: float, window_s: float, freeze_heap: bool
) -> dict[str, Any]:
    """One size in a fresh Python process, so memory, descriptors and CPU are its own.

    The parameters go in on stdin (a broker URL may hold a password); the step's JSON comes
    back as the last line of stdout.
    """
    broker = {
        "kind": choice.kind,
        "host": choice.host,
        "port": choice.port,
        "username": choice.username,
        "password": choice.password,
        "tls": choice.tls.model_dump(mode="json") if choice.tls is not None else None,
    }
    request = json.dumps(
        {"broker": broker, "devices": count, "period_s": period_s, "window_s": window_s, "freeze_heap": freeze_heap}
    )
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hyperhome.bench.density",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    # connecting runs at a few hundred devices a second; stopping about as fast
    bound_s = CHILD_SLACK_S + period_s + window_s + count * 2 * CONNECT_BUDGET_S
    try:
        async with asyncio.timeout(bound_s):
            out, err = await child.communicate(request.encode())
    except TimeoutError:
        child.kill()
        await child.wait()
        msg = f"density with {count:,} devices did not finish within {bound_s:.0f} s"
        raise BenchError(msg) from None
    except asyncio.CancelledError:
        child.kill()
        await child.wait()
        raise
    lines = out.decode(errors="replace").strip().splitlines()
    if child.returncode != 0 or not lines:
        tail = err.decode(errors="replace").strip().splitlines()[-5:]
        msg = f"density with {count:,} devices failed (exit {child.returncode}): {' | '.join(tail) or 'no output'}"
        raise BenchError(msg)
    step: dict[str, Any] = json.loads(lines[-1])
    return step


def main() -> None:
    """The child's side of ``_in_child``: read the request, run one step, print its JSON."""
    logging.getLogger("amqtt").setLevel(logging.ERROR)  # amqtt's shutdown chatter is not a figure
    request = json.loads(sys.stdin.read())
    broker = request["broker"]
    tls = TlsFiles.model_validate(broker["tls"]) if broker["tls"] is not None else None
    choice = BrokerChoice(
        broker["kind"], broker["host"], broker["port"], broker["username"], broker["password"], tls=tls
    )
    try:
        step = asyncio.run(
            _step(
                choice,
                int(request["devices"]),
                period_s=float(request["period_s"]),
                window_s=float(request["window_s"]),
                freeze_heap=bool(request["freeze_heap"]),
            )
        )
    except HyperHomeError as exc:
        sys.stderr.write(f"{exc}\n")
        raise SystemExit(1) from None
    sys.stdout.write(json.dumps(step) + "\n")


async def _step(
    choice: BrokerChoice, count: int, *, period_s: float, window_s: float, freeze_heap: bool = False
) -> dict[str, Any]:
    raise_open_files_limit(count * (2 if choice.kind == "embedded" else 1) + 256)
    ids = [f"s{i:05d}" for i in range(count)]
    creds = HomeCredentials.generate(HOME, ids)
    async with _broker(choice, creds) as (ready, broker_pid), RealtimeClock(1.0) as clock:
        rss_before_kb = rss_kb()
        tally = _Tally()
        topics = Topics(HOME, ready.root)
        epoch = clock.now()
        sensors = []
        for index, device_id in enumerate(ids):
            spec = DeviceSpec(id=device_id, kind=Sensor.kind)
            phase_s = period_s * index / count
            sensors.append(
                Sensor(
                    spec,
                    home=HOME,
                    clock=clock,
                    topics=topics,
                    epoch=epoch,
                    phase_s=phase_s,
                    period_s=period_s,
                    tally=tally,
                )
            )
        connect = MqttConnector(Endpoint.of(ready))
        began = time.perf_counter()
        try:
            for first in range(0, count, START_BATCH):
                batch = sensors[first : first + START_BATCH]
                await asyncio.gather(*(s.start(connect, ready.device(s.id)) for s in batch))
            connect_s = time.perf_counter() - began
            if freeze_heap:
                gc.collect()
                gc.freeze()  # what lives from start-up on is never scanned again by a full collection
            await asyncio.sleep(period_s)  # warm-up: every device published once
            measured = await _window(tally, window_s, broker_pid)
            rss_after_kb = rss_kb()
        except HyperHomeError as exc:
            msg = f"density with {count:,} devices on {choice.describe()}: {exc}"
            raise BenchError(msg) from None
        finally:
            for first in range(0, count, START_BATCH):
                await asyncio.gather(*(s.stop() for s in sensors[first : first + START_BATCH]), return_exceptions=True)
    expected = count * window_s / period_s
    lag_p99_s = percentile(tally.lags_s, 99)
    return {
        "devices": count,
        "cores": round(measured["cores"], 3),
        "rss_per_device_kb": round((rss_after_kb - rss_before_kb) / count, 1),
        "rss_mb": round(rss_after_kb / 1024, 1),
        "connect_s": round(connect_s, 2),
        "publishes_per_s": round(tally.published / window_s, 1),
        "expected_per_s": round(expected / window_s, 1),
        "lag_p99_ms": round(lag_p99_s * 1000, 1),
        "broker_cores": measured.get("broker_cores"),
        "broker_rss_mb": measured.get("broker_rss_mb"),
        "gc_frozen": freeze_heap,
        "holds": measured["cores"] < HOLDS_CORES
        and tally.published >= HOLDS_PUBLISHED * expected
        and lag_p99_s < HOLDS_LAG_S,
    }


async def _window(tally: _Tally, window_s: float, broker_pid: int | None) -> dict[str, Any]:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    broker_cpu0 = cpu_seconds(broker_pid) if broker_pid else None
    tally.measuring = True
    await asyncio.sleep(window_s)
    tally.measuring = False
    wall = time.perf_counter() - wall0
    out: dict[str, Any] = {"cores": (time.process_time() - cpu0) / wall}
    if broker_pid and broker_cpu0 is not None:
        out["broker_cores"] = round((cpu_seconds(broker_pid) - broker_cpu0) / wall, 3)
        out["broker_rss_mb"] = round(rss_kb(broker_pid) / 1024, 1)
    return out


@contextlib.asynccontextmanager
async def _broker(choice: BrokerChoice, creds: HomeCredentials) -> AsyncIterator[tuple[HomeCredentials, int | None]]:
    """Like ``open_broker``, and the managed Mosquitto's pid to read its CPU and memory."""
    if choice.kind == "url":
        async with open_broker(choice, [creds]) as (ready,):
            yield ready, None
        return
    broker = EmbeddedBroker([creds]) if choice.kind == "embedded" else MosquittoBroker([creds])
    async with broker:
        assert broker.port is not None
        pid = broker.pid if isinstance(broker, MosquittoBroker) else None
        yield creds.model_copy(update={"host": broker.host, "port": broker.port}), pid


def _table(figures: dict[str, Any], notes: list[str], period_s: float) -> Any:
    rows: list[list[Any]] = []
    for key, fig in figures.items():
        for step in fig["steps"]:
            if "error" in step:
                rows.append([key, step["devices"], False, *[None] * 6, escape(step["error"])])
                continue
            rows.append(
                [
                    key,
                    step["devices"],
                    step["holds"],
                    step["cores"],
                    step["rss_per_device_kb"],
                    f"{step['publishes_per_s']:g} / {step['expected_per_s']:g}",
                    step["lag_p99_ms"],
                    step["connect_s"],
                    "-" if step["broker_cores"] is None else f"{step['broker_cores']:g} / {step['broker_rss_mb']:g} MB",
                    "gc frozen" if step.get("gc_frozen") else "",
                ]
            )
        if key == "mosquitto" and fig["max_devices_held"] < TARGET_DEVICES:
            notes.append(f"density on mosquitto: held {fig['max_devices_held']:,} devices (target {TARGET_DEVICES:,})")
    return figures_table(
        f"density: devices per process, one state publish each per {period_s:g} s, real time",
        [
            "broker",
            "devices",
            "holds",
            "cores",
            "RSS/device KiB",
            "publishes/s done / due",
            "lag p99 ms",
            "connect s",
            "broker cores / RSS",
            "note",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
