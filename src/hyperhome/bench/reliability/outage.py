"""Broker restarts mid-flow and link faults, on a running home: what is lost, and how fast it is back.

- ``broker_restarts``: ``runs`` times, a fresh demo home in scaled real time (``SPEED``) with a
  pre-cool flow whose planned AC start falls inside a broker outage (``DOWN_S`` wall seconds,
  the broker killed and started again on its port), and a flow that had ended before it. Lost: a
  run whose flow did not start the AC, whose flows' retained statuses (the ended one's too) were
  not back on the restarted broker, that did not end with a reason, or whose
  clean-up (the AC off again after ``flow.cancel``) was not delivered. Duplicated: ``set``
  times the AC was switched on beyond the one the flow asks for. Recovery: from the broker being back
  until every device and the orchestrator are connected again and a fresh controller reads both
  flows' retained statuses.
- ``link_scenarios``: the three shipped hand-off-on-a-bad-link scenarios, in virtual time; lost:
  a scenario that did not pass (or whose trace differs from its golden one).
- ``link_drops``: ``runs`` drops and partitions of a device's link through its fault proxy, in
  scaled real time; lost: a device that did not come back; recovery: from the fault (the end of a
  partition) until the device is connected again.

```python
row = await broker_restarts(BrokerChoice.parse("mosquitto"), runs=1)
assert row.lost == 0 and row.duplicated == 0
```
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import TYPE_CHECKING, Any

from hyperhome.bench.reliability.rows import Row
from hyperhome.bench.report import Progress, quiet
from hyperhome.broker.client import BusClient
from hyperhome.broker.faults import LinkFault
from hyperhome.broker.topics import ORCHESTRATOR
from hyperhome.devices.clock import iso, parse_time
from hyperhome.errors import ConfigError
from hyperhome.home.homefile import load_home
from hyperhome.home.runtime import Home
from hyperhome.scenarios.runner import run_scenario_file
from hyperhome.scenarios.scenario import load_scenario

if TYPE_CHECKING:
    from hyperhome.broker.client import Message
    from hyperhome.broker.launch import BrokerChoice
    from hyperhome.orchestrator.registry import DeviceView

__all__ = ["LINK_SCENARIOS", "broker_restarts", "link_drops", "link_scenarios"]

SPEED = 10.0
"""Scaled real time of the restart runs: a flow's 10 s command bound is still 1 wall second."""
DOWN_S = 0.5
"""Wall seconds the broker stays down."""
PARTITION_S = 5.0
"""Simulated seconds a partition lasts (0.5 wall seconds at ``SPEED``)."""
WAIT_S = 20.0
"""Wall-clock bound on anything a run waits for; past it, what was waited for counts as lost."""
LINK_SCENARIOS = ("handoff_slow_phone_link", "handoff_phone_link_fails", "handoff_stalled_phone_link")


def _managed(choice: BrokerChoice, what: str) -> None:
    if choice.kind == "url":
        msg = f"{what} runs on a broker HyperHome starts: 'embedded' or 'mosquitto'"
        raise ConfigError(msg)


def _recovery(times_s: list[float]) -> tuple[float | None, dict[str, Any]]:
    if not times_s:
        return None, {}
    p50, worst = statistics.median(times_s), max(times_s)
    return round(worst, 3), {"recovery_s_p50": round(p50, 3), "recovery_s_max": round(worst, 3)}


# -- broker restart mid-flow ---------------------------------------------------------------------------
class _AcWatch:
    """How often the AC was switched on (its state's ``power`` going true), and every flow_ended.

    A command the endpoint sees twice under one id is answered again without being applied
    (broker/commands.py), so an AC started twice means a ``set`` applied twice.
    """

    def __init__(self) -> None:
        self.starts = 0
        self._power: bool | None = None
        self.ended: dict[str, dict[str, Any]] = {}
        self.changed = asyncio.Event()

    def state(self, message: Message) -> None:
        data = message.json()
        if isinstance(data, dict) and "power" in data:
            self.seen(data["power"])

    def seen(self, power: object) -> None:
        """The AC's ``power`` as of now (``None``: not known yet)."""
        if power is None:
            return
        on = power is True
        if on and self._power is False:
            self.starts += 1
        self._power = on

    def flow_ended(self, message: Message) -> None:
        data = message.json()
        if isinstance(data, dict):
            self.ended[str(data.get("flow_id"))] = data
            self.changed.set()


async def broker_restarts(choice: BrokerChoice, *, runs: int = 10, progress: Progress = quiet) -> Row:
    """``runs`` pre-cool flows, each through a broker restart; see the module docstring."""
    _managed(choice, "the broker restart section")
    lost = duplicated = 0
    recovery: list[float] = []
    notes: list[str] = []
    started = time.perf_counter()
    for run in range(runs):
        problems, extra_sets, back_s = await _one_restart(choice)
        duplicated += extra_sets
        if back_s is not None:
            recovery.append(back_s)
        if problems:
            lost += 1
            notes += [f"run {run + 1}: {p}" for p in problems]
        progress(f"broker restart {run + 1}/{runs} on {choice.describe()}: {'; '.join(problems) or 'nothing lost'}")
    worst, spread = _recovery(recovery)
    details: dict[str, Any] = {
        "speed": SPEED,
        "down_s": DOWN_S,
        **spread,
        "elapsed_s": round(time.perf_counter() - started, 2),
    }
    if notes or duplicated:
        details["notes"] = [*notes[:10], *([f"{duplicated} set commands applied twice"] if duplicated else [])]
    return Row(
        key="restart",
        section="broker restart mid-flow",
        attempts=runs,
        refused=0,
        leaked=0,
        lost=lost,
        duplicated=duplicated,
        recovery_s=worst,
        details=details,
    )


async def _one_restart(choice: BrokerChoice) -> tuple[list[str], int, float | None]:
    """One home, one flow, one restart: (what was lost, extra ``set`` answers, recovery seconds)."""
    problems: list[str] = []
    async with (
        Home(load_home("demo"), broker=choice.kind, speed=SPEED) as home,
        home.controller(in_sim_time=False) as ctl,
    ):
        watch = _AcWatch()
        await ctl.bus.subscribe(home.topics.state("living-ac"), watch.state)
        # the registry's filter covers this topic at the broker, so no retained state is replayed
        # for it: the AC's power as of now comes from the registry (what arrives next, from both)
        known = ctl.registry.devices.get("living-ac")
        watch.seen(((known.state if known else None) or {}).get("power"))
        await ctl.bus.subscribe(home.topics.event(ORCHESTRATOR, "flow_ended"), watch.flow_ended)
        await ctl.synced()
        # a flow that has ended: only the orchestrator's republishing brings its status back
        ended_id = await ctl.start_flow(
            "precool",
            {"ac": "bedroom-ac", "target_c": 24, "arrive_at": iso(home.clock.now() + 3 * 3600), "user": "alice"},
        )
        await ctl.cancel_flow(ended_id)
        await ctl.wait_flow(ended_id, timeout_s=WAIT_S)
        estimate = await ctl.send("living-ac", "estimate", {"target_c": 24, "mode": "cool"})
        arrive = home.clock.now() + estimate["minutes"] * 60 + 1.0 * SPEED  # the AC's start 1 s (wall) from now
        flow_id = await ctl.start_flow("precool", {"target_c": 24, "arrive_at": iso(arrive), "user": "alice"})
        planned = await ctl.wait_flow(flow_id, lambda s: "planned_start" in (s.result or {}), timeout_s=WAIT_S)
        start = parse_time((planned.result or {})["planned_start"])

        async def past_the_planned_start() -> None:
            await home.clock.sleep_until(start + 1)

        await home.restart_broker(DOWN_S, while_down=past_the_planned_start)
        back = time.perf_counter()
        back_s = await _recovered(home, [ended_id, flow_id])
        if back_s is None:
            problems.append("not every client back, or the flow's status not republished, within 20 s")
        else:
            back_s -= back
        try:
            await ctl.wait_flow(flow_id, lambda s: "started_at" in (s.result or {}), timeout_s=WAIT_S)
        except TimeoutError:
            problems.append("the AC was not started after the outage")
        try:
            await ctl.cancel_flow(flow_id)
            async with asyncio.timeout(WAIT_S):
                while flow_id not in watch.ended:
                    watch.changed.clear()
                    await watch.changed.wait()
            if not watch.ended[flow_id].get("error"):
                problems.append(f"the flow ended {watch.ended[flow_id].get('state')} without a reason")
            async with asyncio.timeout(WAIT_S):  # the clean-up switches the AC off
                await ctl.registry.wait_for(lambda r: (r.devices["living-ac"].state or {}).get("power") is False)
        except TimeoutError:
            problems.append("no flow_ended, or the clean-up did not switch the AC off")
        await ctl.synced()
    if watch.starts == 0:
        problems.append("the AC was never switched on")
    return problems, max(0, watch.starts - 1), back_s


async def _recovered(home: Home, flow_ids: list[str]) -> float | None:
    """When every client is connected again and the flows' retained statuses are back (perf_counter)."""
    try:
        async with asyncio.timeout(WAIT_S):
            buses = [d.bus for d in home.devices.values()]
            assert home.orchestrator is not None
            buses.append(home.orchestrator.bus)
            for bus in buses:
                assert isinstance(bus, BusClient)
                await bus.wait_connected(WAIT_S)
            while True:
                async with home.controller(in_sim_time=False) as fresh:
                    await fresh.synced()
                    if all(flow_id in fresh.flows for flow_id in flow_ids):
                        return time.perf_counter()
    except TimeoutError:
        return None


# -- link faults ----------------------------------------------------------------------------------------
async def link_scenarios(choice: BrokerChoice, *, progress: Progress = quiet) -> Row:
    """The shipped hand-off-on-a-bad-link scenarios, each once, in virtual time."""
    failed: list[str] = []
    for name in LINK_SCENARIOS:
        scenario, path = load_scenario(name)
        result = await run_scenario_file(scenario, path, broker=choice)
        progress(f"{name} on {choice.describe()}: {result.status}, golden {result.golden}")
        if not result.passed:
            failed.append(f"{name}: {result.failure}")
    details: dict[str, Any] = {"scenarios": list(LINK_SCENARIOS)}
    if failed:
        details["notes"] = failed
    return Row(
        key="link_scenarios",
        section="hand-off on a bad link",
        attempts=len(LINK_SCENARIOS),
        refused=0,
        leaked=0,
        lost=len(failed),
        details=details,
    )


class _Availability:
    """A device's ``$availability`` as a controller sees it: when it went offline and came back."""

    def __init__(self) -> None:
        self.device = ""
        self.went_offline = False
        self.back_at: float | None = None
        self.back = asyncio.Event()

    def expect(self, device: str) -> None:
        self.device, self.went_offline, self.back_at = device, False, None
        self.back.clear()

    def __call__(self, view: DeviceView, what: str) -> None:
        if what != "$availability" or view.id != self.device:
            return
        if not view.online:
            self.went_offline = True
        elif self.went_offline and self.back_at is None:
            self.back_at = time.perf_counter()
            self.back.set()


async def link_drops(choice: BrokerChoice, *, runs: int = 10, progress: Progress = quiet) -> Row:
    """``runs`` drops and partitions (alternately) of the devices' links, in scaled real time.

    Recovery: from the fault (a partition: its end) until the controller reads the device's
    ``online`` again, after the broker published its last will.
    """
    _managed(choice, "the link faults section")
    lost = 0
    recovery: list[float] = []
    notes: list[str] = []
    started = time.perf_counter()
    plan = load_home("demo")
    async with (
        Home(plan, broker=choice.kind, speed=SPEED, faults=True) as home,
        home.controller(in_sim_time=False) as ctl,
    ):
        assert home.faults is not None
        await ctl.synced()
        watch = _Availability()
        ctl.registry.on_change(watch)
        devices = sorted(home.devices)
        for run in range(runs):
            device = devices[run % len(devices)]
            partition = run % 2 == 1
            fault = (
                LinkFault(device=device, partition=PARTITION_S) if partition else LinkFault(device=device, drop=True)
            )
            watch.expect(device)
            began = time.perf_counter() + (PARTITION_S / SPEED if partition else 0.0)
            await home.faults.apply(fault)
            what = f"{'partition' if partition else 'drop'} of {device}"
            try:
                async with asyncio.timeout(WAIT_S):
                    await watch.back.wait()
            except TimeoutError:
                lost += 1
                notes.append(f"{what}: not online again within {WAIT_S:g} s")
            if watch.back_at is not None:
                recovery.append(max(0.0, watch.back_at - began))
            progress(
                f"link fault {run + 1}/{runs} on {choice.describe()}: {what}, {'back' if watch.back_at else 'lost'}"
            )
    worst, spread = _recovery(recovery)
    details: dict[str, Any] = {"speed": SPEED, "partition_s": PARTITION_S, **spread}
    details["elapsed_s"] = round(time.perf_counter() - started, 2)
    if notes:
        details["notes"] = notes[:10]
    return Row(
        key="link_drops",
        section="link drop / partition",
        attempts=runs,
        refused=0,
        leaked=0,
        lost=lost,
        recovery_s=worst,
        details=details,
    )
