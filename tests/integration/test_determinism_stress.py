"""The same story gives the same trace, byte for byte, on every run and on both brokers.

Every shipped scenario, and stories written so that several things happen at one simulated
instant (a flow cancelled as it starts, two flows started together, a command at the instant a
lockout ends, a wait whose timeout expires as the condition comes true, a device dropping as a
command reaches it, link faults: latency, stalls, drops and a partition meeting a flow's
messages), are run several times on amqtt and on Mosquitto; in part of the runs a CPU
hog competes for the machine. The traces must all be identical (docs/scenarios.md,
"Determinism").
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from hyperhome.broker.client import Message
from hyperhome.broker.faults import LinkFault
from hyperhome.devices.clock import VirtualClock
from hyperhome.home.homefile import load_home
from hyperhome.home.runtime import Home
from hyperhome.scenarios.runner import clean, dump_trace, run_scenario_file
from hyperhome.scenarios.scenario import load_scenario, shipped_scenarios

WRONG_PINS = "".join(
    "  - {send: {device: door-lock, command: unlock, "
    f'args: {{method: pin, pin: "00000{n}"}}, expect_error: rejected}}}}\n'
    for n in range(1, 6)
)  # five wrong PINs: the keypad locks for five minutes
RUNS = 3  # per broker and story; the last one with a CPU hog beside it

STORIES = {
    "cancel_as_the_stream_starts": """
title: A car camera view cancelled at the instant it starts
article: "(determinism) the cancel and the stream's start meet at one instant"
home: demo
steps:
  - intent: {device: phone, intent: remote_camera, args: {viewer: phone, car: car, stream: front}}
  - wait_for: {device: $orchestrator, event: flow_started, where: {kind: remote_camera}, timeout: 5s}
  - save: {view: event.flow_id}
  - send: {device: $orchestrator, command: flow.cancel, args: {flow_id: "${view}"}}
  - wait_for: {flow: "${view}", state: [cancelled, succeeded, failed], timeout: 5s}
  - sleep: 2s
""",
    "two_flows_at_one_instant": """
title: Two hand-offs and a pre-cool started at one instant
article: "(determinism) flows that start together"
home: demo
steps:
  - send: {device: tablet, command: call.start, args: {with: grandma}}
  - flow:
      kind: camera_handoff
      args: {call_device: tablet, source: {device: phone, stream: rear}, user: alice}
      save_as: a
  - flow:
      kind: camera_handoff
      args: {call_device: tablet, source: {device: laptop, stream: front}, user: alice}
      save_as: b
  - flow: {kind: precool, args: {ac: living-ac, target_c: 24, start_now: true, user: alice}, save_as: cool}
  - wait_for: {flow: b, state: [running, succeeded, failed], timeout: 5s}
  - sleep: 3s
  - send: {device: tablet, command: call.end}
  - sleep: 2s
""",
    "partition_during_a_handoff": """
title: The phone is cut off for 20 s while its camera is in a call, then the tablet's link drops
article: "(determinism) a partition, a fallback, a reconnect, a drop as a command follows"
home: demo
steps:
  - send: {device: tablet, command: call.start, args: {with: grandma}}
  - flow:
      kind: camera_handoff
      args: {call_device: tablet, source: {device: phone, stream: rear}, fps: 30, user: alice}
      save_as: to_rear
  - wait_for: {flow: to_rear, state: running, where: {result.source.device: phone}, timeout: 5s}
  - sleep: 1s
  - fault: {device: phone, partition: 20s}
  - wait_for: {flow: to_rear, state: failed, timeout: 5s}
  - sleep: 25s
  - send: {device: phone, command: notify, args: {title: back, body: again}}
  - fault: {device: tablet, drop: true}
  - send: {device: tablet, command: call.end}
  - sleep: 2s
""",
    "link_faults_at_one_instant": """
title: Latency, a stall, its end and a drop, at the instants a hand-off starts and runs
article: "(determinism) link faults that meet a flow's messages at one instant"
home: demo
steps:
  - send: {device: tablet, command: call.start, args: {with: grandma}}
  - fault: {device: tablet, latency: 300ms}
  - flow:
      kind: camera_handoff
      args: {call_device: tablet, source: {device: phone, stream: rear}, fps: 30, user: alice}
      save_as: to_rear
  - fault: {device: phone, stall: true}
  - sleep: 500ms
  - fault: {device: phone, stall: false}
  - fault: {device: phone, latency: 1s}
  - fault: {device: tablet, drop: true}
  - wait_for: {flow: to_rear, state: [running, failed, succeeded], timeout: 10s}
  - fault: {device: phone, latency: 0}
  - fault: {device: tablet, clear: true}
  - send: {device: tablet, command: call.end}
  - sleep: 2s
""",
    "command_as_the_lockout_ends": """
title: The right PIN at the very instant the keypad lockout ends
article: "(determinism) a command and a timer at one instant"
home: demo
steps:
{wrong_pins}  - sleep: 5m
  - send: {device: door-lock, command: unlock, args: {method: pin, pin: "240617"}}
  - sleep: 1s
""",
    "timeout_as_the_condition_comes_true": """
title: A wait whose timeout expires at the instant its condition comes true
article: "(determinism) a timeout and an event at one instant"
home: demo
steps:
{wrong_pins}  - wait_for: {device: door-lock, state: {pin_locked_until: null}, timeout: 5m}
""",
}


@contextmanager
def cpu_hog(on: bool) -> Iterator[None]:
    """A process that keeps one core busy while the block runs."""
    if not on:
        yield
        return
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        hog.kill()
        hog.wait()


def _stories(tmp: Path) -> list[tuple[str, Path]]:
    paths = []
    for name, text in STORIES.items():
        path = tmp / f"{name}.yaml"
        path.write_text(text.lstrip().replace("{wrong_pins}", WRONG_PINS), encoding="utf-8")
        paths.append((name, path))
    return paths


async def _scenario_trace(path: Path, broker: str) -> str:
    scenario, resolved = load_scenario(str(path))
    result = await run_scenario_file(scenario, resolved, broker=broker)
    # a failed step still leaves a trace; what must not vary is the whole story, failure included
    return dump_trace(result.trace) + f"\n{result.status}: {result.failure}"


async def _drop_trace(broker: str) -> str:
    """The phone loses its connection at the instant a command reaches it, then comes back."""
    plan = load_home("demo")
    async with Home(plan, broker=broker, faults=True) as home, home.controller() as ctl:
        assert home.faults is not None
        clock = home.clock
        assert isinstance(clock, VirtualClock)
        t0 = clock.now()
        seen: list[dict[str, Any]] = []

        def record(message: Message) -> None:
            if message.retain and not message.topic.endswith(("$availability", "/state")):
                return
            try:
                data = clean(message.json())
            except ValueError:
                data = message.text
            if isinstance(data, dict):
                data.pop("id", None)  # command ids are drawn at random
            seen.append({"t": round(clock.now() - t0, 3), "topic": message.topic, "data": data})

        await ctl.bus.subscribe(home.topics.everything, record, qos=1)
        await ctl.synced()
        seen.clear()
        sent = asyncio.create_task(
            ctl.request("phone", "notify", {"title": "Dinner", "body": "ready at 7"}, timeout_s=5)
        )
        await asyncio.sleep(0)  # the command is handed over; now, at the same instant, the link goes
        await home.faults.apply(LinkFault(device="phone", drop=True))
        outcome: Any
        try:
            outcome = (await sent).ok
        except TimeoutError:
            outcome = "timeout"
        await clock.sleep(30)
        await ctl.send("phone", "notify", {"title": "Dessert", "body": "now"})
        await clock.sleep(5)
        await clock.settle()
        story = [e for e in seen if "/stream/" not in e["topic"] and "/$sync/" not in e["topic"]]
        return dump_trace(story) + f"\nfirst command: {outcome}"


def _first_difference(traces: dict[str, str]) -> str | None:
    (first_run, first), *rest = traces.items()
    for run, trace in rest:
        if trace == first:
            continue
        a, b = first.split("\n"), trace.split("\n")
        for index, (x, y) in enumerate(zip(a, b, strict=False)):
            if x != y:
                return f"{run} differs from {first_run} at line {index}:\n  {x}\n  {y}"
        return f"{run} differs from {first_run} in length ({len(a)} vs {len(b)} lines)"
    return None


@pytest.mark.mosquitto
@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", [*sorted(STORIES), *shipped_scenarios()])
async def test_every_run_on_both_brokers_gives_the_same_trace(
    name: str, tmp_path: Path, mosquitto_available: None
) -> None:
    stories = dict(_stories(tmp_path))
    path = stories.get(name) or load_scenario(name)[1]
    traces: dict[str, str] = {}
    for broker in ("embedded", "mosquitto"):
        for run in range(RUNS if name in STORIES else 2):
            loaded = run == (RUNS if name in STORIES else 2) - 1
            with cpu_hog(loaded):
                traces[f"{broker} run {run + 1}{' (CPU hog)' if loaded else ''}"] = await _scenario_trace(path, broker)
    assert len(next(iter(traces.values()))) > 100
    assert _first_difference(traces) is None, _first_difference(traces)


@pytest.mark.mosquitto
@pytest.mark.timeout(300)
async def test_a_device_dropping_as_a_command_reaches_it_gives_the_same_trace(mosquitto_available: None) -> None:
    traces: dict[str, str] = {}
    for broker in ("embedded", "mosquitto"):
        for run in range(RUNS):
            loaded = run == RUNS - 1
            with cpu_hog(loaded):
                traces[f"{broker} run {run + 1}{' (CPU hog)' if loaded else ''}"] = await _drop_trace(broker)
    first = next(iter(traces.values()))
    assert '"offline"' in first, first  # it did drop
    assert '"online"' in first, first  # and came back
    assert _first_difference(traces) is None, _first_difference(traces)
