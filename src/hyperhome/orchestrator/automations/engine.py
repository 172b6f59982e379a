"""The automations service: rules that watch the home and act, each firing published with why.

It is an orchestrator ``Service`` (orchestrator/service.py). It sees every device event (event
triggers) and every retained ``state`` (state and numeric_state triggers, compared with the
state it saw before), keeps daily timers on the simulation clock (time triggers, passive like
a device's), reads conditions from the registry, and runs a rule's actions in a task it owns.

On the wire (docs/protocol.md, docs/automations.md):

- ``$orchestrator/event/automation_fired {rule, alias, trigger, because, run, start}`` when a
  trigger's conditions held and a run starts (``start``: ``now``), waits (``queued``) or
  replaces the one going (``restarted``);
- ``$orchestrator/event/automation_error {rule, run, action, type, error, continued}`` when an
  action fails;
- ``$orchestrator/event/automation_changed {rule, change}`` when a rule is added, replaced,
  removed, enabled or disabled at run time;
- commands ``automation.list``, ``automation.add {rule, replace?}``, ``automation.remove {id}``,
  ``automation.enable {id}``, ``automation.disable {id}``, ``automation.why {id}``.

A trigger whose conditions do not hold publishes nothing; ``automation.why`` answers with the
last evaluation ("did not fire at ...: ..., but the living room is 24.1 °C, not above 26 °C").
Runs are never waited on by a message handler: a handler only matches, checks and publishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hyperhome.broker.topics import ID_PATTERN
from hyperhome.broker.wire import format_validation_error
from hyperhome.errors import CommandError, ErrorCode, NotConnectedError
from hyperhome.orchestrator.automations import evaluate
from hyperhome.orchestrator.automations.actions import ActionFailed, Actions
from hyperhome.orchestrator.automations.describe import HomeView
from hyperhome.orchestrator.automations.evaluate import Hit
from hyperhome.orchestrator.automations.model import (
    EventTrigger,
    NumericStateTrigger,
    Rule,
    StateTrigger,
    TimeTrigger,
    parse_time_of_day,
)
from hyperhome.orchestrator.automations.records import Automation, Evaluation, Run
from hyperhome.orchestrator.service import CommandHandler
from hyperhome.tasks import TaskOwner

if TYPE_CHECKING:
    from hyperhome.broker.client import Message
    from hyperhome.orchestrator.service import Orchestrator

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 5.0
"""Wall-time bound on runs ending after ``stop`` cancelled them (as the orchestrator's)."""


class RuleRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN)


class AddArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: dict[str, Any]
    replace: bool = False


class NoArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Automations:
    """The orchestrator's automations service; see the module docstring."""

    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        self._initial = list(rules)
        self.rules: dict[str, Automation] = {}
        self._orchestrator: Orchestrator | None = None
        self._actions: Actions | None = None
        self._states: dict[str, dict[str, Any]] = {}
        self._tasks = TaskOwner("automations", logger=log)

    # -- the Service protocol --------------------------------------------------------------------
    @property
    def commands(self) -> Mapping[str, CommandHandler]:
        return {
            "automation.list": self._cmd_list,
            "automation.add": self._cmd_add,
            "automation.remove": self._cmd_remove,
            "automation.enable": self._cmd_enable,
            "automation.disable": self._cmd_disable,
            "automation.why": self._cmd_why,
        }

    async def start(self, orchestrator: Orchestrator) -> None:
        self._orchestrator = orchestrator
        self._actions = Actions(orchestrator)
        await self._tasks.open()
        for view in orchestrator.registry.devices.values():
            if view.state is not None:
                self._states[view.id] = dict(view.state)
        for rule in self._initial:
            self._install(rule, "home")
        await orchestrator.bus.subscribe(orchestrator.topics.all_of("state"), self._on_state)

    async def stop(self) -> None:
        for automation in self.rules.values():
            self._halt(automation, "the orchestrator stopped")
        await self._tasks.aclose(grace_s=STOP_TIMEOUT_S, timeout_s=STOP_TIMEOUT_S)
        orchestrator = self._orchestrator
        if orchestrator is not None:
            with contextlib.suppress(NotConnectedError):
                await orchestrator.bus.unsubscribe(orchestrator.topics.all_of("state"), self._on_state)

    async def on_event(self, device: str, name: str, payload: dict[str, Any]) -> None:
        home = self.home()
        for automation in list(self.rules.values()):
            if not automation.enabled:
                continue
            for index, trigger in enumerate(automation.rule.trigger):
                if isinstance(trigger, EventTrigger):
                    hit = evaluate.match_event(trigger, index, home, device, name, payload)
                    if hit is not None:
                        await self._triggered(automation, hit)
                        break

    # -- helpers -----------------------------------------------------------------------------------
    @property
    def orchestrator(self) -> Orchestrator:
        if self._orchestrator is None:
            msg = "the automations service is not started"
            raise RuntimeError(msg)
        return self._orchestrator

    def home(self) -> HomeView:
        orchestrator = self.orchestrator
        return HomeView(orchestrator.registry.devices, orchestrator.ctx.residents)

    def _now(self) -> str:
        return self.orchestrator.clock.iso()

    async def _publish(self, name: str, **fields: Any) -> None:
        await self.orchestrator.emit(name, fields)

    # -- state triggers ----------------------------------------------------------------------------
    async def _on_state(self, message: Message) -> None:
        ref = self.orchestrator.topics.parse(message.topic)
        if ref is None or ref.kind != "state" or ref.device.startswith("$"):
            return
        try:
            after = message.json()
        except ValueError:
            return
        if not isinstance(after, dict):
            return
        before = self._states.get(ref.device)
        self._states[ref.device] = after
        if before is None:  # a baseline, not a change
            return
        home = self.home()
        for automation in list(self.rules.values()):
            if not automation.enabled:
                continue
            for index, trigger in enumerate(automation.rule.trigger):
                hit: Hit | None = None
                if isinstance(trigger, StateTrigger):
                    hit = evaluate.match_state(trigger, index, home, ref.device, before, after)
                elif isinstance(trigger, NumericStateTrigger):
                    hit = evaluate.match_numeric(trigger, index, home, ref.device, before, after)
                if hit is not None:
                    await self._triggered(automation, hit)
                    break

    # -- time triggers -----------------------------------------------------------------------------
    def _schedule(self, automation: Automation) -> None:
        for index, trigger in enumerate(automation.rule.trigger):
            if isinstance(trigger, TimeTrigger):
                self._schedule_one(automation, index, trigger)

    def _schedule_one(self, automation: Automation, index: int, trigger: TimeTrigger) -> None:
        clock = self.orchestrator.clock
        now = datetime.fromtimestamp(clock.now(), UTC)
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        due = midnight + timedelta(seconds=parse_time_of_day(trigger.at))
        if due.timestamp() <= clock.now():
            due += timedelta(days=1)

        def fire() -> None:
            if self.rules.get(automation.rule.id) is not automation or not automation.enabled:
                return
            self._schedule_one(automation, index, trigger)
            self._spawn(self._triggered(automation, evaluate.time_hit(index, trigger.at)))

        automation.timers[index] = clock.call_at(due.timestamp(), fire)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
        return self._tasks.spawn(coro, failure="automation task failed")

    # -- firing --------------------------------------------------------------------------------------
    async def _triggered(self, automation: Automation, hit: Hit) -> None:
        """Check the conditions; publish the firing and start (or queue, or restart) a run."""
        rule, ts = automation.rule, self._now()
        verdict = evaluate.check(rule.condition, self.home())
        if not verdict.ok:
            automation.last = Evaluation(ts, hit, "condition_false", verdict.reasons)
            return
        busy = automation.current is not None
        if busy and rule.mode == "single":
            automation.last = Evaluation(ts, hit, "busy", verdict.reasons)
            return
        if busy and rule.mode == "queued" and 1 + len(automation.queue) >= rule.queue_max:
            automation.last = Evaluation(ts, hit, "queue_full", verdict.reasons)
            return
        automation.runs += 1
        evaluation = Evaluation(ts, hit, "fired", verdict.reasons, automation.runs)
        automation.last = evaluation
        run = Run(automation.runs, hit, evaluation.because, ts)
        start = "now" if not busy else ("queued" if rule.mode == "queued" else "restarted")
        await self._publish(
            "automation_fired",
            rule=rule.id,
            alias=rule.alias,
            trigger=hit.payload,
            because=evaluation.because,
            run=run.number,
            start=start,
        )
        if start == "queued":
            automation.queue.append(run)
            return
        if start == "restarted" and automation.current is not None:
            self._cancel_run(automation.current, f"restarted by run {run.number}")
        self._begin(automation, run)

    def _begin(self, automation: Automation, run: Run) -> None:
        run.state, run.started = "running", self._now()
        automation.current = run
        run.task = self._spawn(self._execute(automation, run))

    def _cancel_run(self, run: Run, reason: str) -> None:
        run.cancel_reason = reason
        if run.task is not None and not run.task.done():
            run.task.cancel()

    def _halt(self, automation: Automation, reason: str) -> None:
        """Stop everything of a rule: its timers, its waiting runs and the one going."""
        for timer in automation.timers.values():
            timer.cancel()
        automation.timers.clear()
        while automation.queue:
            waiting = automation.queue.popleft()
            waiting.state, waiting.cancel_reason, waiting.ended = "cancelled", reason, self._now()
            automation.last_run = waiting
        if automation.current is not None:
            self._cancel_run(automation.current, reason)

    async def _execute(self, automation: Automation, run: Run) -> None:
        rule = automation.rule
        try:
            for number, action in enumerate(rule.action, start=1):
                try:
                    assert self._actions is not None
                    note = await self._actions.do(rule, run, action)
                except ActionFailed as exc:
                    run.actions.append(f"{number}. {action.type}: failed: {exc.reason}")
                    await self._publish(
                        "automation_error",
                        rule=rule.id,
                        run=run.number,
                        action=number,
                        type=action.type,
                        error=exc.reason,
                        continued=action.continue_on_error,
                    )
                    if not action.continue_on_error:
                        run.state, run.error = "failed", f"action {number} ({action.type}): {exc.reason}"
                        return
                else:
                    run.actions.append(f"{number}. {action.type}: {note}")
            run.state = "done"
        except asyncio.CancelledError:
            run.state = "cancelled"
            run.cancel_reason = run.cancel_reason or "cancelled"
            raise
        finally:
            run.ended = self._now()
            automation.last_run = run
            if automation.current is run:
                automation.current = None
                if run.cancel_reason is None and automation.queue and automation.enabled:
                    self._begin(automation, automation.queue.popleft())

    # -- rules ----------------------------------------------------------------------------------------
    def _install(self, rule: Rule, source: Literal["home", "runtime"]) -> Automation:
        automation = Automation(rule, source, self._now(), rule.enabled)
        self.rules[rule.id] = automation
        if automation.enabled:
            self._schedule(automation)
        return automation

    def _get(self, args: dict[str, Any]) -> Automation:
        try:
            rule_id = RuleRef.model_validate(args).id
        except ValidationError as exc:
            raise CommandError(ErrorCode.INVALID_ARGS, format_validation_error(exc)) from None
        automation = self.rules.get(rule_id)
        if automation is None:
            known = ", ".join(sorted(self.rules)) or "none"
            raise CommandError(ErrorCode.REJECTED, f"no rule {rule_id!r} (rules: {known})")
        return automation

    async def _cmd_list(self, args: dict[str, Any]) -> dict[str, Any]:
        try:
            NoArgs.model_validate(args)
        except ValidationError as exc:
            raise CommandError(ErrorCode.INVALID_ARGS, format_validation_error(exc)) from None
        return {"rules": [a.summary() for a in sorted(self.rules.values(), key=lambda a: a.rule.id)]}

    async def _cmd_add(self, args: dict[str, Any]) -> dict[str, Any]:
        try:
            parsed = AddArgs.model_validate(args)
        except ValidationError as exc:
            raise CommandError(ErrorCode.INVALID_ARGS, format_validation_error(exc)) from None
        orchestrator = self.orchestrator
        context = {"devices": set(orchestrator.registry.devices), "flows": set(orchestrator.kinds)}
        try:
            rule = Rule.model_validate(parsed.rule, context=context)
        except ValidationError as exc:
            raise CommandError(ErrorCode.INVALID_ARGS, format_validation_error(exc, prefix="rule")) from None
        existing = self.rules.get(rule.id)
        if existing is not None and not parsed.replace:
            msg = f"a rule {rule.id!r} exists already (remove it first, or add with replace: true)"
            raise CommandError(ErrorCode.REJECTED, msg)
        if existing is not None:
            self._halt(existing, "replaced")
        automation = self._install(rule, "runtime")
        await self._publish("automation_changed", rule=rule.id, change="replaced" if existing else "added")
        return automation.summary()

    async def _cmd_remove(self, args: dict[str, Any]) -> dict[str, Any]:
        automation = self._get(args)
        self._halt(automation, "the rule was removed")
        del self.rules[automation.rule.id]
        await self._publish("automation_changed", rule=automation.rule.id, change="removed")
        return {"id": automation.rule.id, "removed": True}

    async def _cmd_enable(self, args: dict[str, Any]) -> dict[str, Any]:
        automation = self._get(args)
        changed = not automation.enabled
        if changed:
            automation.enabled = True
            self._schedule(automation)
            await self._publish("automation_changed", rule=automation.rule.id, change="enabled")
        return {"id": automation.rule.id, "enabled": True, "changed": changed}

    async def _cmd_disable(self, args: dict[str, Any]) -> dict[str, Any]:
        automation = self._get(args)
        changed = automation.enabled
        if changed:
            automation.enabled = False
            self._halt(automation, "the rule was disabled")
            await self._publish("automation_changed", rule=automation.rule.id, change="disabled")
        return {"id": automation.rule.id, "enabled": False, "changed": changed}

    async def _cmd_why(self, args: dict[str, Any]) -> dict[str, Any]:
        automation = self._get(args)
        return {
            "id": automation.rule.id,
            "enabled": automation.enabled,
            "answer": automation.why(),
            "last": automation.last.as_dict() if automation.last is not None else None,
            "last_run": automation.last_run.as_dict() if automation.last_run is not None else None,
        }
