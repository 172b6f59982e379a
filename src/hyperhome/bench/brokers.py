"""broker: amqtt and Mosquitto under the emulator's own traffic mix.

The mix is what a home with a video call in it sends, counted by kind over the shipped camera
and pre-cooling scenarios (a subscriber to the whole home, live messages only): frames 74 %,
state 16 %, flow status 4 %, commands and replies 3 %, events 1 %. ``MIX`` rounds that to five
kinds with their QoS, retain flag and typical size.

Clients are plain aiomqtt connections with HyperHome's settings (MQTT 3.1.1, TCP_NODELAY), each
logged in as the contract says, so the broker's access control runs on every message:
``DEVICES`` devices publish frames, state, replies and events in their own subtree; a
controller sends the commands; each device watches the next one's stream and its own ``cmd/#``;
a watcher (the orchestrator login) subscribes to the whole home, as the orchestrator and the
dashboard do. Every payload carries its send time; latency is measured at the watcher.

Two phases per broker, in the same run:

- **saturation**: every publisher sends as fast as the broker takes it, with at most ``WINDOW``
  of its messages not yet seen by the watcher: messages per second the watcher received, and
  their latency (which at saturation is mostly queueing);
- **fixed rate**: ``rate`` messages per second in all, on a schedule (open loop): latency p50
  and p99 at a load the broker is not saturated by.

Both phases run the clients in this one Python process, so for Mosquitto the figure is often
what the clients can push, not Mosquitto's limit; the embedded broker shares this process's
core with them, as it does in ``hyperhome up``. The Mosquitto process's own CPU is reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiomqtt

from hyperhome.bench.density import _broker
from hyperhome.bench.handoff import _raw
from hyperhome.bench.report import (
    BenchError,
    BenchResult,
    Progress,
    broker_key,
    cpu_seconds,
    figures_table,
    percentile,
    quiet,
)
from hyperhome.broker.credentials import HomeCredentials
from hyperhome.broker.launch import BrokerChoice
from hyperhome.broker.topics import Topics

HOME = "brokerbench"
DEVICES = 8
WINDOW = 32
SECONDS = 5.0
RATE = 200.0
"""Messages per second of the fixed-rate phase: about three cameras at 30 fps with their home
around them (one video call is about 60 messages a second), far below either broker's limit."""
SEED = 7
DRAIN_TIMEOUT_S = 10.0
QUIET_S = 0.3


@dataclass(frozen=True)
class Kind:
    name: str
    share: float
    qos: int
    retain: bool
    size: int
    """Payload bytes, as the shipped scenarios' messages of this kind average."""


MIX = (
    Kind("frame", 0.75, 0, False, 133),
    Kind("state", 0.20, 1, True, 400),
    Kind("command", 0.02, 1, False, 72),
    Kind("reply", 0.02, 1, False, 141),
    Kind("event", 0.01, 1, False, 92),
)


@dataclass
class _Counts:
    """What the watcher has seen: per publisher the last count, and latencies while recording."""

    received: dict[str, int] = field(default_factory=dict)
    total: int = 0
    latencies_s: list[float] = field(default_factory=list)
    recording: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)


async def run(
    brokers: list[BrokerChoice], *, seconds: float = SECONDS, rate: float = RATE, progress: Progress = quiet
) -> BenchResult:
    figures: dict[str, Any] = {}
    for choice in brokers:
        progress(f"broker {choice.describe()}: {seconds:g} s saturated, {seconds:g} s at {rate:g} msgs/s")
        figures[broker_key(choice)] = await _measure(choice, seconds, rate)
    return BenchResult("broker", figures, table=_table(figures, rate))


async def _measure(choice: BrokerChoice, seconds: float, rate: float) -> dict[str, Any]:
    ids = [f"d{i}" for i in range(DEVICES)]
    creds = HomeCredentials.generate(HOME, ids)
    async with _broker(choice, creds) as (ready, pid), _clients(ready, ids) as (devices, controller, watcher):
        topics = Topics(HOME, ready.root)
        counts = _Counts()
        async with asyncio.TaskGroup() as tasks:
            watching = tasks.create_task(_watch(watcher, counts))
            drains = [tasks.create_task(_drain(client)) for client in devices.values()]
            await _subscribe(devices, watcher, topics)
            saturated = await _phase(
                choice, pid, counts, seconds, lambda: _saturate(devices, controller, topics, counts, seconds)
            )
            fixed = await _phase(
                choice, pid, counts, seconds, lambda: _fixed_rate(devices, controller, topics, rate, seconds)
            )
            for task in [watching, *drains]:
                task.cancel()
    return {
        "msgs_per_s": round(saturated["received"] / saturated["wall_s"]),
        "p50_ms": saturated["p50_ms"],
        "p99_ms": saturated["p99_ms"],
        "rate_msgs_per_s": rate,
        "rate_p50_ms": fixed["p50_ms"],
        "rate_p99_ms": fixed["p99_ms"],
        "rate_received_per_s": round(fixed["received"] / fixed["wall_s"]),
        "client_cores": saturated["client_cores"],
        "broker_cores": saturated.get("broker_cores"),
    }


async def _phase(choice: BrokerChoice, pid: int | None, counts: _Counts, seconds: float, load: Any) -> dict[str, Any]:
    counts.latencies_s = []
    before = counts.total
    cpu0, wall0 = time.process_time(), time.perf_counter()
    broker_cpu0 = cpu_seconds(pid) if pid else 0.0
    counts.recording = True
    await load()
    counts.recording = False
    wall = time.perf_counter() - wall0
    out: dict[str, Any] = {
        "received": counts.total - before,
        "wall_s": wall,
        "p50_ms": round(percentile(counts.latencies_s, 50) * 1000, 3),
        "p99_ms": round(percentile(counts.latencies_s, 99) * 1000, 3),
        "client_cores": round((time.process_time() - cpu0) / wall, 2),
    }
    if pid:
        out["broker_cores"] = round((cpu_seconds(pid) - broker_cpu0) / wall, 2)
    await _drained(counts)
    return out


async def _drained(counts: _Counts) -> None:
    """Wait until the watcher received nothing for ``QUIET_S``: a saturated broker's backlog
    must not land in the next phase's latencies."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DRAIN_TIMEOUT_S):
            while True:
                seen = counts.total
                await asyncio.sleep(QUIET_S)
                if counts.total == seen:
                    return


@contextlib.asynccontextmanager
async def _clients(
    creds: HomeCredentials, ids: list[str]
) -> AsyncIterator[tuple[dict[str, aiomqtt.Client], aiomqtt.Client, aiomqtt.Client]]:
    async with contextlib.AsyncExitStack() as stack:
        devices = {i: await stack.enter_async_context(_raw(creds, creds.device(i))) for i in ids}
        controller = await stack.enter_async_context(_raw(creds, creds.controller))
        watcher = await stack.enter_async_context(_raw(creds, creds.orchestrator))
        yield devices, controller, watcher


async def _subscribe(devices: dict[str, aiomqtt.Client], watcher: aiomqtt.Client, topics: Topics) -> None:
    ids = list(devices)
    async with asyncio.timeout(DRAIN_TIMEOUT_S):
        await watcher.subscribe(topics.everything, qos=1, timeout=math.inf)
        for index, device_id in enumerate(ids):
            viewed = ids[(index + 1) % len(ids)]
            await devices[device_id].subscribe(topics.cmd(device_id, "#"), qos=1, timeout=math.inf)
            await devices[device_id].subscribe(topics.stream(viewed, "#"), qos=0, timeout=math.inf)


async def _watch(watcher: aiomqtt.Client, counts: _Counts) -> None:
    async for message in watcher.messages:
        if message.retain or not isinstance(message.payload, bytes | bytearray):
            continue
        try:
            data = json.loads(message.payload)
            sender, seq, sent_ns = str(data["p"]), int(data["n"]), int(data["t"])
        except (ValueError, KeyError, TypeError):
            continue
        if counts.recording:
            counts.latencies_s.append((time.perf_counter_ns() - sent_ns) / 1e9)
        counts.received[sender] = max(counts.received.get(sender, 0), seq)
        counts.total += 1
        counts.changed.set()


async def _drain(client: aiomqtt.Client) -> None:
    async for _ in client.messages:
        pass


class _Publisher:
    """One client's share of the mix: picks kinds by their shares, numbers its messages."""

    def __init__(self, name: str, client: aiomqtt.Client, kinds: list[tuple[Kind, str]], seed: int) -> None:
        self.name, self.client, self.kinds = name, client, kinds
        self.weights = [kind.share for kind, _ in kinds]
        self.rng = random.Random(seed)
        self.sent = 0

    async def publish_one(self) -> None:
        kind, topic = self.rng.choices(self.kinds, self.weights)[0]
        self.sent += 1
        head = {"p": self.name, "n": self.sent, "t": time.perf_counter_ns()}
        text = json.dumps(head)
        payload = (text[:-1] + ',"pad":"' + "x" * max(0, kind.size - len(text) - 9) + '"}').encode()
        await self.client.publish(topic, payload, qos=kind.qos, retain=kind.retain, timeout=math.inf)


def _publishers(
    phase: str, devices: dict[str, aiomqtt.Client], controller: aiomqtt.Client, topics: Topics
) -> list[_Publisher]:
    by_name = {kind.name: kind for kind in MIX}
    out = []
    for index, (device_id, client) in enumerate(devices.items()):
        kinds = [
            (by_name["frame"], topics.stream(device_id, "rear")),
            (by_name["state"], topics.state(device_id)),
            (by_name["reply"], topics.reply(device_id)),
            (by_name["event"], topics.event(device_id, "bench")),
        ]
        out.append(_Publisher(f"{phase}-{device_id}", client, kinds, SEED + index))
    commands = [(by_name["command"], topics.cmd(device_id, "set")) for device_id in devices]
    out.append(_Publisher(f"{phase}-controller", controller, commands, SEED - 1))
    return out


def _controller_share(publishers: list[_Publisher]) -> dict[str, float]:
    """Messages per publisher per mix message: the controller sends only the command share."""
    command = next(kind.share for kind in MIX if kind.name == "command")
    device_share = (1 - command) / (len(publishers) - 1)
    return {p.name: command if p.name.endswith("-controller") else device_share for p in publishers}


async def _saturate(
    devices: dict[str, aiomqtt.Client], controller: aiomqtt.Client, topics: Topics, counts: _Counts, seconds: float
) -> None:
    publishers = _publishers("saturated", devices, controller, topics)
    deadline = time.perf_counter() + seconds

    async def pump(publisher: _Publisher) -> None:
        while time.perf_counter() < deadline:
            while publisher.sent - counts.received.get(publisher.name, 0) >= WINDOW:
                counts.changed.clear()
                try:
                    async with asyncio.timeout(max(deadline - time.perf_counter(), 0.01)):
                        await counts.changed.wait()
                except TimeoutError:
                    return
            await publisher.publish_one()

    async with asyncio.timeout(seconds + DRAIN_TIMEOUT_S), asyncio.TaskGroup() as tasks:
        for publisher in publishers:
            tasks.create_task(pump(publisher))


async def _fixed_rate(
    devices: dict[str, aiomqtt.Client], controller: aiomqtt.Client, topics: Topics, rate: float, seconds: float
) -> None:
    publishers = _publishers("fixed", devices, controller, topics)
    shares = _controller_share(publishers)
    began = time.perf_counter()

    async def pump(publisher: _Publisher) -> None:
        interval = 1 / (rate * shares[publisher.name])
        due = began + publisher.rng.uniform(0, interval)
        while due < began + seconds:
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await publisher.publish_one()
            due += interval

    async with asyncio.timeout(seconds + DRAIN_TIMEOUT_S), asyncio.TaskGroup() as tasks:
        for publisher in publishers:
            tasks.create_task(pump(publisher))
    if time.perf_counter() - began > seconds * 1.5:
        msg = f"the clients could not keep up {rate:g} msgs/s; ask for a lower --rate"
        raise BenchError(msg)


def _table(figures: dict[str, Any], rate: float) -> Any:
    rows = [
        [
            key,
            fig["msgs_per_s"],
            fig["p50_ms"],
            fig["p99_ms"],
            fig["rate_p50_ms"],
            fig["rate_p99_ms"],
            fig["client_cores"],
            fig["broker_cores"],
        ]
        for key, fig in figures.items()
    ]
    return figures_table(
        "broker: the emulator's traffic mix (75 % frames QoS 0, 25 % state/commands/replies/events QoS 1)",
        [
            "broker",
            "saturated msgs/s",
            "p50 ms",
            "p99 ms",
            f"at {rate:g}/s p50 ms",
            f"at {rate:g}/s p99 ms",
            "client cores",
            "mosquitto cores",
        ],
        rows,
    )
