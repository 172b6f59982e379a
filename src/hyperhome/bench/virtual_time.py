"""virtual-time: how much faster than real time the shipped scenario suite runs.

Every scenario ``shipped_scenarios()`` returns is run in virtual time, as ``hyperhome run``
runs it (its home brought up on the broker, driven, its trace compared with the golden one),
one after the other in this process. Per scenario: simulated seconds, wall seconds (from
before its home starts to after it stopped), and their ratio; for the suite, the sums and
their ratio (the suite's speed-up is total simulated time over total wall time, so a long
idle scenario cannot hide a slow camera one).

Beside the suite, two figures of the clock alone, on the demo home:

- **idle hour**: wall seconds for one simulated hour in which nothing is asked of the home
  (its devices' own timers still run);
- **command RTT**: wall milliseconds per command and reply in virtual time (``set`` on an air
  conditioner, ``COMMANDS`` times in a row), the cost of one proof of quiet.
"""

from __future__ import annotations

import time
from typing import Any

from hyperhome.bench.report import BenchResult, Progress, broker_key, check, figures_table, quiet
from hyperhome.broker.launch import BrokerChoice
from hyperhome.home.homefile import load_home
from hyperhome.home.runtime import Home
from hyperhome.scenarios.runner import run_scenario_file
from hyperhome.scenarios.scenario import load_scenario, shipped_scenarios

TARGET_SPEEDUP = 1000.0
"""The issue's target: the suite at least 1,000x faster than real time."""
IDLE_S = 3600.0
COMMANDS = 200


async def run(
    brokers: list[BrokerChoice],
    *,
    scenarios: list[str] | None = None,
    commands: int = COMMANDS,
    progress: Progress = quiet,
) -> BenchResult:
    """``scenarios``: names to run instead of every shipped one (tests use one)."""
    names = scenarios if scenarios is not None else list(shipped_scenarios())
    figures: dict[str, Any] = {}
    for choice in brokers:
        progress(f"virtual-time on {choice.describe()}: {len(names)} scenarios, an idle hour, {commands} commands")
        figures[broker_key(choice)] = await _measure(choice, names, commands)
    notes: list[str] = []
    return BenchResult("virtual_time", figures, table=_table(figures, notes), notes=notes)


async def _measure(choice: BrokerChoice, names: list[str], commands: int) -> dict[str, Any]:
    per: dict[str, Any] = {}
    for name in names:
        scenario, path = load_scenario(name)
        result = await run_scenario_file(scenario, path, broker=choice)
        per[name] = {
            "sim_s": round(result.sim_s, 3),
            "wall_s": round(result.wall_s, 4),
            "speedup": _ratio(result.sim_s, result.wall_s),
            "status": result.status,
            "golden": result.golden,
        }
    sim_s = sum(s["sim_s"] for s in per.values())
    wall_s = sum(s["wall_s"] for s in per.values())
    idle_wall_s, rtt_s = await _clock_figures(choice, commands)
    return {
        "scenarios": per,
        "sim_s": round(sim_s, 3),
        "wall_s": round(wall_s, 4),
        "speedup": _ratio(sim_s, wall_s),
        "failed": sorted(n for n, s in per.items() if s["status"] == "failed"),
        "idle_hour_wall_s": round(idle_wall_s, 4),
        "command_rtt_ms": round(rtt_s * 1000, 3),
    }


async def _clock_figures(choice: BrokerChoice, commands: int) -> tuple[float, float]:
    plan = load_home("demo")
    ac = next(spec.id for spec in plan.devices if spec.kind == "air_conditioner")
    async with Home(plan, broker=choice) as home, home.controller() as ctl:
        await ctl.synced()
        began = time.perf_counter()
        await home.clock.sleep(IDLE_S)
        idle_wall_s = time.perf_counter() - began
        began = time.perf_counter()
        for index in range(commands):
            await ctl.send(ac, "set", {"target_c": 24 + index % 3})
        rtt_s = (time.perf_counter() - began) / max(commands, 1)
    return idle_wall_s, rtt_s


def _ratio(sim_s: float, wall_s: float) -> float:
    return round(sim_s / wall_s, 1) if wall_s > 0 else 0.0


def _table(figures: dict[str, Any], notes: list[str]) -> Any:
    keys = list(figures)
    names = list(next(iter(figures.values()))["scenarios"]) if figures else []
    rows: list[list[Any]] = []
    for name in names:
        row: list[Any] = [name, figures[keys[0]]["scenarios"][name]["sim_s"]]
        for key in keys:
            s = figures[key]["scenarios"][name]
            status = "" if s["status"] == "passed" else f" [red]{s['status']}[/]"
            row.append(f"{s['wall_s']:.3f} s  {s['speedup']:,.0f}x{status}")
        rows.append(row)
    total: list[Any] = ["[bold]suite[/]", figures[keys[0]]["sim_s"] if keys else 0]
    for key in keys:
        f = figures[key]
        met = check(notes, f["speedup"] >= TARGET_SPEEDUP, f"virtual-time on {key}: the suite ran {f['speedup']}x")
        total.append(f"[bold]{f['wall_s']:.3f} s  {f['speedup']:,.0f}x[/] ({met})")
        if f["failed"]:
            notes.append(f"virtual-time on {key}: scenarios failed: {', '.join(f['failed'])}")
    rows.append(total)
    rows.append(
        ["idle demo hour (wall)", IDLE_S, *(f"{figures[k]['idle_hour_wall_s']:.3f} s" for k in keys)],
    )
    rows.append(["command RTT in virtual time", "", *(f"{figures[k]['command_rtt_ms']:.2f} ms" for k in keys)])
    return figures_table(
        f"virtual-time: shipped scenarios (target >= {TARGET_SPEEDUP:,.0f}x real time)",
        ["scenario", "simulated s", *(f"{k}: wall, speed-up" for k in keys)],
        rows,
    )
