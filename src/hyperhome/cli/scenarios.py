"""``hyperhome run`` and ``hyperhome scenarios``: play scenario files, list the shipped ones."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from hyperhome.cli.common import (
    BrokerOpt,
    CaFileOpt,
    CertFileOpt,
    KeyFileOpt,
    LoginsOpt,
    broker_choice,
    console,
    fail,
    run_until_done,
)
from hyperhome.errors import HyperHomeError
from hyperhome.scenarios.report import Timeline, print_summary, write_json, write_junit
from hyperhome.scenarios.runner import ScenarioResult, compare_runs, run_scenario_file
from hyperhome.scenarios.scenario import home_plan, load_scenario, shipped_scenarios


# -- scenarios -------------------------------------------------------------------------------------
def scenarios_cmd() -> None:
    """List the shipped scenarios with their titles."""
    table = Table("scenario", "title", "needs flows", title="shipped scenarios", title_justify="left")
    for name, path in shipped_scenarios().items():
        scenario, _ = load_scenario(path)
        table.add_row(name, scenario.title, ", ".join(scenario.requires_flows))
    console.print(table)


def run(
    scenario_files: Annotated[
        list[str], typer.Argument(metavar="SCENARIO...", help="Scenario files, or names of shipped scenarios.")
    ],
    broker: BrokerOpt = "embedded",
    logins: LoginsOpt = None,
    ca_file: CaFileOpt = None,
    cert_file: CertFileOpt = None,
    key_file: KeyFileOpt = None,
    speed: Annotated[
        float | None,
        typer.Option(
            "--speed", help="Scaled real time (simulated seconds per wall second); virtual when omitted.", min=0.001
        ),
    ] = None,
    junit: Annotated[Path | None, typer.Option("--junit", help="Write a JUnit XML report here.")] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the results (with traces) as JSON here.")
    ] = None,
    update_golden: Annotated[
        bool, typer.Option("--update-golden", help="Rewrite the golden traces of the scenarios that pass.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live timeline, only the summary.")] = False,
    repeat: Annotated[
        int,
        typer.Option(
            "--repeat",
            help="Run each scenario N times; fail, showing the first differing entry, if two traces differ.",
            min=1,
        ),
    ] = 1,
) -> None:
    """Run scenarios with a live timeline; exit 1 if any expectation fails."""
    try:
        loaded = [load_scenario(name) for name in scenario_files]  # every file checked before anything runs
        choice = broker_choice(broker, logins, ca_file, cert_file, key_file)
        for scenario, path in loaded:
            plan = home_plan(scenario, path)
            choice.check_home(plan.home, [d.id for d in plan.devices])
    except HyperHomeError as exc:
        raise fail(str(exc)) from None
    results: list[ScenarioResult] = []

    async def main() -> None:
        for scenario, path in loaded:
            clock = (
                "virtual time"
                if (speed or scenario.clock.speed) is None
                else f"speed x{speed or scenario.clock.speed:g}"
            )
            where = choice.describe() if choice.kind == "url" else choice.kind
            timeline = Timeline(console, quiet=quiet, broker=where, clock=clock)
            first = await run_scenario_file(
                scenario, path, broker=choice, speed=speed, update_golden=update_golden, progress=timeline
            )
            results.append(first)
            timeline.finished(first)
            for index in range(2, repeat + 1):
                again = await run_scenario_file(scenario, path, broker=choice, speed=speed)
                difference = compare_runs(first, again)
                if difference is not None:
                    first.status = "failed"
                    first.failure = f"run {index} of {repeat} differs from run 1: {difference}"
                    console.print(f"[red]FAILED[/] {path.stem}: {first.failure}", markup=True, highlight=False)
                    break
            else:
                if repeat > 1:
                    console.print(f"{path.stem}: {repeat} runs, {repeat} identical traces", highlight=False)

    run_until_done(main())
    print_summary(console, results)
    if junit is not None:
        write_junit(results, junit)
    if json_out is not None:
        write_json(results, json_out)
    if len(results) < len(loaded) or any(r.status == "failed" for r in results):
        raise typer.Exit(1)
