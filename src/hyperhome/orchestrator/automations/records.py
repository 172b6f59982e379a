"""What the automations service remembers of each rule: its last evaluation and its runs.

``Automation.why`` turns that into the sentence ``automation.why`` answers; ``summary`` is what
``automation.list`` shows.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from hyperhome.orchestrator.automations import describe
from hyperhome.orchestrator.automations.evaluate import Hit
from hyperhome.orchestrator.automations.model import Rule

if TYPE_CHECKING:
    from hyperhome.devices.clock import TimerHandle

Outcome = Literal["fired", "condition_false", "busy", "queue_full"]
RunState = Literal["queued", "running", "done", "failed", "cancelled"]


@dataclass
class Evaluation:
    """One time a trigger matched: what the conditions said, and what came of it."""

    ts: str
    hit: Hit
    outcome: Outcome
    reasons: list[str]
    run: int | None = None

    @property
    def because(self) -> str:
        return describe.join_and([self.hit.sentence, *self.reasons])

    def as_dict(self) -> dict[str, Any]:
        return {
            "ts": self.ts,
            "trigger": self.hit.payload,
            "outcome": self.outcome,
            "fired": self.outcome == "fired",
            "reasons": self.reasons,
            "run": self.run,
        }


@dataclass
class Run:
    """One run of a rule's actions."""

    number: int
    hit: Hit
    because: str
    triggered: str
    state: RunState = "queued"
    started: str | None = None
    ended: str | None = None
    error: str | None = None
    actions: list[str] = field(default_factory=list)
    flows: list[str] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    cancel_reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "run": self.number,
            "state": self.state,
            "triggered": self.triggered,
            "started": self.started,
            "ended": self.ended,
            "error": self.error,
            "actions": self.actions,
            "flows": self.flows,
        }


@dataclass
class Automation:
    """A rule and its life in this orchestrator: enabled, runs, last evaluation, timers."""

    rule: Rule
    source: Literal["home", "runtime"]
    loaded: str
    enabled: bool
    runs: int = 0
    current: Run | None = None
    queue: deque[Run] = field(default_factory=deque)
    last: Evaluation | None = None
    last_run: Run | None = None
    timers: dict[int, TimerHandle] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        rule = self.rule
        return {
            "id": rule.id,
            "alias": rule.alias,
            "mode": rule.mode,
            "max": rule.queue_max if rule.mode == "queued" else None,
            "enabled": self.enabled,
            "source": self.source,
            "loaded": self.loaded,
            "runs": self.runs,
            "running": self.current is not None,
            "queued": len(self.queue),
            "last": self.last.as_dict() if self.last is not None else None,
            "last_run": self.last_run.as_dict() if self.last_run is not None else None,
        }

    def why(self) -> str:
        """The answer of ``automation.why``: one sentence about the last evaluation."""
        prefix = "" if self.enabled else "is disabled; before that it "
        last = self.last
        if last is None:
            return f"{prefix}has not been triggered since it was loaded at {describe.when(self.loaded)}"
        at = describe.when(last.ts)
        if last.outcome == "condition_false":
            text = f"did not fire at {at}: {last.hit.sentence}, but {describe.join_and(last.reasons)}"
        elif last.outcome == "busy":
            text = f"did not run at {at}: {last.because}, but its previous run was still going (mode single)"
        elif last.outcome == "queue_full":
            text = (
                f"did not run at {at}: {last.because}, but {self.rule.queue_max} runs were already going or "
                f"waiting (mode queued, max {self.rule.queue_max})"
            )
        else:
            text = f"fired at {at} because {last.because}{self._run_note(last.run)}"
        return prefix + text

    def _run_note(self, number: int | None) -> str:
        run = next((r for r in (self.current, *self.queue, self.last_run) if r and r.number == number), None)
        if run is None:
            return ""
        if run.state == "failed":
            return f"; run {run.number} failed: {run.error}"
        if run.state == "cancelled":
            return f"; run {run.number} was cancelled: {run.cancel_reason}"
        if run.state in ("running", "queued"):
            return f"; run {run.number} is {run.state}"
        return f"; run {run.number} is done"
