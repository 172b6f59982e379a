"""How scenario runs are shown and saved: a live Rich timeline, a summary table, JUnit XML, JSON."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table

from hyperhome.durations import format_duration, format_span
from hyperhome.scenarios.runner import Progress, ScenarioResult, StepOutcome

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console

    from hyperhome.scenarios.scenario import Scenario, Step

_KIND_STYLE = {"state": "cyan", "event": "magenta", "flow": "yellow", "reply": "dim", "fault": "red"}
_STATUS_STYLE = {"passed": "green", "failed": "bold red", "skipped": "yellow"}


def clock_text(t: float) -> str:
    """Simulated seconds as ``+1:02:03.5`` (hours only when there are any)."""
    hours, rest = divmod(t, 3600)
    minutes, seconds = divmod(rest, 60)
    head = f"{int(hours)}:{int(minutes):02d}" if hours else f"{int(minutes)}"
    return f"+{head}:{seconds:04.1f}"


def flow_change(data: dict[str, Any], previous: dict[str, Any] | None) -> str:
    """What changed in a flow's status since ``previous``: its state, else the step that moved
    (``step lease_source done``), else its result."""
    head = f"{data.get('kind')} {data.get('state')}"
    if data.get("error"):
        return f"{head}: {data['error']}"
    if previous is None or previous.get("state") != data.get("state"):
        return head
    before = {(s.get("name"), s.get("state")) for s in previous.get("steps") or []}
    moved = [s for s in data.get("steps") or [] if (s.get("name"), s.get("state")) not in before]
    if moved:
        return f"{head}: " + ", ".join(f"step {s.get('name')} {s.get('state')}" for s in moved)
    if data.get("result") != previous.get("result"):
        return f"{head}: result {json.dumps(data.get('result'), ensure_ascii=False)}"
    return head


def entry_text(entry: dict[str, Any], previous: dict[str, Any] | None = None) -> str:
    """What a trace entry says, in one short line (for a flow, what changed since ``previous``)."""
    data = entry["data"]
    if entry["kind"] == "state":
        body = " ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in data.items())
    elif entry["kind"] == "flow":
        body = flow_change(data, previous)
    elif entry["kind"] == "reply":
        body = "ok" if data.get("ok") else f"error {(data.get('error') or {}).get('code')}"
    else:
        body = json.dumps(data, ensure_ascii=False)
    text = f"{entry['name']} {body}" if entry["kind"] != "state" else body
    return text if len(text) <= 110 else text[:107] + "..."


class Timeline(Progress):
    """Prints each step and each trace entry as it happens, stamped with simulated time."""

    def __init__(self, console: Console, *, quiet: bool = False, broker: str = "", clock: str = "") -> None:
        self.console = console
        self.quiet = quiet
        self.steps = 0
        self.where = " · ".join(part for part in (broker, clock) if part)
        self._flows: dict[str, dict[str, Any]] = {}

    def scenario_started(self, scenario: Scenario, name: str) -> None:
        self.steps = len(scenario.steps)
        self._flows.clear()
        where = f" [dim]on {escape(self.where)}[/]" if self.where else ""
        self.console.rule(f"[bold]{escape(scenario.title)}[/] [dim]({escape(name)})[/]{where}")

    def step_started(self, index: int, step: Step, t: float) -> None:
        if not self.quiet:
            self.console.print(
                f"[dim]{clock_text(t):>12}[/] [bold blue]step {index + 1}/{self.steps}[/] "
                f"{escape(step.title or step.action)}"
            )

    def step_ended(self, outcome: StepOutcome) -> None:
        if outcome.status == "failed" and not self.quiet:  # quiet: the summary says it, once
            self.console.print(f"[dim]{clock_text(outcome.t):>12}[/] [bold red]FAILED[/] {escape(outcome.message)}")

    def entry(self, entry: dict[str, Any]) -> None:
        previous = None
        if entry["kind"] == "flow":
            previous = self._flows.get(entry["name"])
            self._flows[entry["name"]] = entry["data"]
        if self.quiet:
            return
        style = _KIND_STYLE.get(entry["kind"], "")
        self.console.print(
            f"[dim]{clock_text(entry['t']):>12}[/]   {escape(entry['device']):<14} "
            f"[{style}]{entry['kind']:<6}[/] {escape(entry_text(entry, previous))}",
            highlight=False,
        )

    def finished(self, result: ScenarioResult) -> None:
        style = _STATUS_STYLE[result.status]
        line = f"[{style}]{result.status}[/] {escape(result.name)}"
        if result.status == "skipped" and result.failure:  # a failure's reason: at its step and in the summary
            line += f": {escape(result.failure)}"
        self.console.print(line)


def print_summary(console: Console, results: list[ScenarioResult]) -> None:
    brokers = sorted({r.broker for r in results})
    title = f"summary [dim]on {', '.join(brokers)}[/]" if brokers else "summary"
    table = Table("scenario", "result", "steps", "simulated", "wall", "golden", title=title, title_justify="left")
    for r in results:
        passed = sum(s.status == "passed" for s in r.steps)
        table.add_row(
            r.name,
            f"[{_STATUS_STYLE[r.status]}]{r.status}[/]",
            f"{passed}/{len(r.steps)}" if r.status != "skipped" else "-",
            format_span(r.sim_s),
            f"{r.wall_s:.2f} s",
            r.golden,
        )
    console.print(table)
    for r in results:
        if r.status == "failed":
            console.print(f"[bold red]FAILED[/] {escape(r.name)}: {escape(r.failure)}")
            failed = [s for s in r.steps if s.status == "failed"]
            for step in failed:
                console.print(f"  expected: {escape(step.expected)}\n  seen:     {escape(step.seen)}")
        elif r.status == "skipped":
            console.print(f"[yellow]skipped[/] {escape(r.name)}: {escape(r.failure)}")


def junit_xml(results: list[ScenarioResult]) -> ET.ElementTree:
    """One testsuite, one testcase per scenario; failures and skips with their messages."""
    suite = ET.Element(
        "testsuite",
        name="hyperhome scenarios",
        tests=str(len(results)),
        failures=str(sum(r.status == "failed" for r in results)),
        skipped=str(sum(r.status == "skipped" for r in results)),
        errors="0",
        time=f"{sum(r.wall_s for r in results):.3f}",
    )
    for r in results:
        case = ET.SubElement(
            suite, "testcase", classname=f"hyperhome.scenarios.{r.broker}", name=r.name, time=f"{r.wall_s:.3f}"
        )
        if r.status == "failed":
            failure = ET.SubElement(case, "failure", message=r.failure, type="ScenarioFailed")
            failure.text = "\n".join(
                f"{s.index + 1}. {s.title}: {s.status}"
                + (f" (expected {s.expected}; seen {s.seen})" if s.expected else "")
                for s in r.steps
            )
        elif r.status == "skipped":
            ET.SubElement(case, "skipped", message=r.failure)
        out = ET.SubElement(case, "system-out")
        out.text = f"{r.title}\nsimulated {format_duration(r.sim_s)}; golden trace: {r.golden}"
    root = ET.Element("testsuites")
    root.append(suite)
    return ET.ElementTree(root)


def write_junit(results: list[ScenarioResult], path: Path) -> None:
    tree = junit_xml(results)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)


def write_json(results: list[ScenarioResult], path: Path) -> None:
    data = {"results": [r.as_dict() for r in results]}
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
