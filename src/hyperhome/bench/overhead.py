"""overhead: what HyperHome's device runtime costs on top of the MQTT client library.

On one broker, in one run, two loops publish the same thing ``messages`` times, one after the
other (each publish awaited, as a device does):

- **device**: ``Device.publish_state()`` of a real device kind (an air conditioner on the
  real-time clock): physics brought up to now, the state model dumped to JSON with ``ts`` and
  ``seq``, then ``BusClient.publish`` (QoS 1, retained), which is aiomqtt inside;
- **raw**: ``aiomqtt.Client.publish`` of a payload of the same size to the same kind of topic,
  QoS 1, retained, from a client with the same settings (MQTT 3.1.1, TCP_NODELAY);
- **adapter**: the device's own ``BusClient.publish`` of that payload, without the device
  runtime around it.

The figure is messages per second of each and the ratio device / raw (1.0: the runtime costs
nothing). It can pass 1: the adapter writes each packet as it is queued, where stock aiomqtt
waits two turns of the event loop (``client._PromptClient``); device / adapter is then the
runtime's own cost. The two loops alternate ``ROUNDS`` times and the best round of each counts, so
a burst of load from elsewhere on the machine hurts neither more than the other. CPU time per
message is given too: on a busy machine it is steadier than wall time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from hyperhome.bench.handoff import _raw
from hyperhome.bench.report import BenchResult, Progress, broker_key, check, figures_table, quiet
from hyperhome.broker.launch import BrokerChoice
from hyperhome.home.homefile import load_home
from hyperhome.home.runtime import Home

MESSAGES = 2000
ROUNDS = 3
TARGET_RATIO = 0.8
"""The issue's target: the device path at least 80 % of the raw client's rate."""


async def run(brokers: list[BrokerChoice], *, messages: int = MESSAGES, progress: Progress = quiet) -> BenchResult:
    figures: dict[str, Any] = {}
    for choice in brokers:
        progress(f"overhead on {choice.describe()}: {ROUNDS} x {messages:,} state publishes, device and raw")
        figures[broker_key(choice)] = await _measure(choice, messages)
    notes: list[str] = []
    return BenchResult("overhead", figures, table=_table(figures, notes), notes=notes)


async def _measure(choice: BrokerChoice, messages: int) -> dict[str, Any]:
    plan = load_home("demo")
    ac, other = [spec.id for spec in plan.devices if spec.kind == "air_conditioner"][:2]
    async with Home(plan, broker=choice, speed=1.0, orchestrator=False) as home:
        assert home.credentials is not None
        device = home.devices[ac]
        topic = home.topics.state(other)  # the other AC's own state topic: its login may publish there
        payload = device._state_payload()
        await home.devices[other].stop()  # the raw client logs in as the other AC, with its client id
        async with _raw(home.credentials, home.credentials.device(other)) as raw:

            async def raw_publish() -> None:
                await raw.publish(topic, payload, qos=1, retain=True, timeout=math.inf)

            bus, own_topic = device.bus, home.topics.state(ac)
            assert bus is not None

            async def adapter_publish() -> None:
                await bus.publish(own_topic, payload, qos=1, retain=True)

            device_runs, raw_runs, adapter_runs = [], [], []
            for _ in range(ROUNDS):
                device_runs.append(await _loop(device.publish_state, messages))
                raw_runs.append(await _loop(raw_publish, messages))
                adapter_runs.append(await _loop(adapter_publish, messages))
            await device.publish_state()  # leave the device's real state retained
    device_rate, device_cpu = max(device_runs)
    raw_rate, raw_cpu = max(raw_runs)
    adapter_rate, adapter_cpu = max(adapter_runs)
    return {
        "device_msgs_per_s": round(device_rate),
        "raw_msgs_per_s": round(raw_rate),
        "ratio": round(device_rate / raw_rate, 3) if raw_rate else 0.0,
        "adapter_msgs_per_s": round(adapter_rate),
        "runtime_ratio": round(device_rate / adapter_rate, 3) if adapter_rate else 0.0,
        "device_cpu_us": round(device_cpu * 1e6, 1),
        "raw_cpu_us": round(raw_cpu * 1e6, 1),
        "adapter_cpu_us": round(adapter_cpu * 1e6, 1),
        "payload_bytes": len(payload),
        "messages": messages,
    }


async def _loop(publish: Callable[[], Awaitable[None]], messages: int) -> tuple[float, float]:
    """Messages per second and CPU seconds per message of ``messages`` awaited publishes."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(messages):
        await publish()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return messages / wall, cpu / messages


def _table(figures: dict[str, Any], notes: list[str]) -> Any:
    rows = []
    for key, fig in figures.items():
        met = check(notes, fig["ratio"] >= TARGET_RATIO, f"overhead on {key}: ratio {fig['ratio']}")
        rows.append(
            [
                key,
                fig["device_msgs_per_s"],
                fig["raw_msgs_per_s"],
                f"{fig['ratio']:.2f} ({met})",
                fig["adapter_msgs_per_s"],
                f"{fig['runtime_ratio']:.2f}",
                f"{fig['device_cpu_us']:g} / {fig['raw_cpu_us']:g} / {fig['adapter_cpu_us']:g}",
                fig["payload_bytes"],
            ]
        )
    return figures_table(
        f"overhead: state publishes, device runtime vs raw aiomqtt (QoS 1, retained; target >= {TARGET_RATIO})",
        [
            "broker",
            "device msgs/s",
            "raw aiomqtt msgs/s",
            "device / raw",
            "adapter msgs/s",
            "device / adapter",
            "CPU us/msg device / raw / adapter",
            "payload bytes",
        ],
        rows,
    )
