"""Run a scenario on a home and record what happened, in simulated time.

```python
scenario, path = load_scenario("living_room_cooldown")
result = await run_scenario_file(scenario, path, broker="embedded")   # virtual time
assert result.passed, result.failure
```

The runner brings the scenario's home up (``Home``), drives it with a controller client, and
records a *trace*: every device event, every state change (only the fields that changed, without
``ts`` and ``seq``), every flow status, every reply to its own commands and every link fault it
set (``fault:`` steps), each stamped with the simulated seconds since the scenario started.
Entries of the same simulated instant are sorted by device, kind and name (stably), so a
scenario gives the same trace on every run and on both brokers; a shipped scenario's trace is
compared with its golden one (``library/golden``).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from hyperhome.broker.faults import BrokerFault
from hyperhome.broker.launch import BrokerChoice
from hyperhome.broker.topics import ORCHESTRATOR, Topics
from hyperhome.broker.wire import FlowStatus
from hyperhome.devices.clock import ManualClock, VirtualClock
from hyperhome.durations import format_duration
from hyperhome.errors import ConfigError, NotConnectedError
from hyperhome.home import yamlfile
from hyperhome.home.restarts import BrokerRestarts
from hyperhome.home.runtime import Home
from hyperhome.scenarios.scenario import (
    FLOW_STATES,
    Check,
    Expect,
    Scenario,
    Step,
    WaitFor,
    home_plan,
)

if TYPE_CHECKING:
    from hyperhome.broker.client import Message
    from hyperhome.broker.faults import LinkFault
    from hyperhome.devices.clock import Clock
    from hyperhome.orchestrator.controller import Controller

Status = Literal["passed", "failed", "skipped"]
VOLATILE = ("ts", "seq")
ORCHESTRATOR_META_TIMEOUT_S = 5.0
"""How long a run waits for the orchestrator's ``$meta`` (simulated time), as long as a probe waited for its reply."""
_MISSING: Any = object()
_REF_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_EPSILON = 1e-9
BROKER = "$broker"
"""The trace's device name for what happens to the broker itself (a ``fault: {broker: restart}``)."""
NOT_CONNECTED = "not_connected"
"""The error of a step whose command could not be sent: the runner had no connection to the broker."""


# -- results --------------------------------------------------------------------------------------
@dataclass
class StepOutcome:
    index: int
    title: str
    action: str
    status: Status
    t: float
    """Simulated seconds since the scenario started, when the step ended."""
    wall_s: float
    expected: str = ""
    seen: str = ""
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.index + 1,
            "title": self.title,
            "action": self.action,
            "status": self.status,
            "t": self.t,
            "wall_s": round(self.wall_s, 4),
            "expected": self.expected,
            "seen": self.seen,
            "message": self.message,
        }


@dataclass
class ScenarioResult:
    name: str
    title: str
    path: str
    broker: str
    clock: str
    status: Status = "passed"
    failure: str = ""
    """Why it failed (or was skipped): step, what was expected, what was seen."""
    steps: list[StepOutcome] = field(default_factory=list)
    trace: list[dict[str, Any]] = field(default_factory=list)
    golden: str = "absent"
    """matched, mismatch, written, absent, or not compared (a failed run or scaled time)."""
    sim_s: float = 0.0
    wall_s: float = 0.0

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def raise_for_failure(self) -> None:
        """AssertionError with the failure (step, expected, seen) unless the scenario passed."""
        if self.status == "failed":
            msg = f"scenario {self.name} failed: {self.failure}"
            raise AssertionError(msg)

    def as_dict(self, *, with_trace: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "title": self.title,
            "path": self.path,
            "broker": self.broker,
            "clock": self.clock,
            "status": self.status,
            "failure": self.failure,
            "golden": self.golden,
            "sim_s": self.sim_s,
            "wall_s": round(self.wall_s, 4),
            "steps": [s.as_dict() for s in self.steps],
        }
        if with_trace:
            data["trace"] = self.trace
        return data


class Progress:
    """Hooks for a live view of a run; every method does nothing unless overridden."""

    def scenario_started(self, scenario: Scenario, name: str) -> None:
        """The home is up and the first step is about to run."""

    def step_started(self, index: int, step: Step, t: float) -> None:
        """Step ``index`` (0-based) starts at simulated second ``t``."""

    def step_ended(self, outcome: StepOutcome) -> None:
        """A step passed or failed."""

    def entry(self, entry: dict[str, Any]) -> None:
        """A trace entry was recorded (in arrival order; the final trace is sorted)."""


class StepFailed(Exception):
    def __init__(self, expected: str, seen: str) -> None:
        super().__init__(f"expected {expected}; seen {seen}")
        self.expected = expected
        self.seen = seen


# -- values ---------------------------------------------------------------------------------------
def get_path(data: Any, path: str) -> Any:
    """``data["a"]["b"][0]`` for ``"a.b.0"``; ``_MISSING`` when it is not there."""
    value = data
    for part in path.split(".") if path else []:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def show(value: Any) -> str:
    return "(missing)" if value is _MISSING else json.dumps(value, ensure_ascii=False, default=str)


def holds(check: Check, value: Any) -> bool:
    """Whether ``value`` meets every constraint of ``check``."""
    if value is _MISSING:
        return False
    if check.has_equals and value != check.equals:
        return False
    if check.one_of is not None and value not in check.one_of:
        return False
    numeric = (check.min, check.max, check.approx)
    if any(n is not None for n in numeric):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if check.min is not None and value < check.min - _EPSILON:
            return False
        if check.max is not None and value > check.max + _EPSILON:
            return False
        if check.approx is not None and abs(value - check.approx) > check.tolerance + _EPSILON:
            return False
    return True


def describe_checks(checks: dict[str, Check]) -> str:
    return ", ".join(f"{name} {check.describe()}" for name, check in checks.items())


def failing(checks: dict[str, Check], data: Any) -> dict[str, Any]:
    """The fields of ``data`` that do not meet their checks, with what they hold."""
    return {name: get_path(data, name) for name, check in checks.items() if not holds(check, get_path(data, name))}


def clean(data: Any) -> Any:
    """A payload without its volatile top-level fields (``ts``, ``seq``)."""
    if isinstance(data, dict):
        return {k: v for k, v in data.items() if k not in VOLATILE}
    return data


# -- the recorder ---------------------------------------------------------------------------------
class Recorder:
    """Every message of the home the scenario is about, as trace entries and current values."""

    def __init__(self, topics: Topics, clock: Clock, progress: Progress) -> None:
        self.topics = topics
        self.clock = clock
        self.progress = progress
        self.t0 = clock.now()
        self.entries: list[dict[str, Any]] = []
        self.states: dict[str, dict[str, Any]] = {}
        self.flows: dict[str, FlowStatus] = {}
        """Each flow's latest status, by flow id, as the wire type (a malformed one is not recorded)."""
        self.changed = asyncio.Event()
        self.recording = False

    def t(self) -> float:
        return round(self.clock.now() - self.t0, 3)

    def __call__(self, message: Message) -> None:
        ref = self.topics.parse(message.topic)
        if ref is None or ref.kind not in ("state", "event", "flow", "reply"):
            return
        try:
            data = message.json()
        except ValueError:
            return
        if not isinstance(data, dict):
            return
        live = self.recording and not message.retain
        if ref.kind == "state":
            state = clean(data)
            before = self.states.get(ref.device, {})
            self.states[ref.device] = state
            changes = {k: v for k, v in state.items() if before.get(k, _MISSING) != v}
            if live and changes:
                self._add(ref.device, "state", "state", changes)
        elif ref.kind == "flow" and ref.name is not None:
            try:
                status = FlowStatus.model_validate(data)
            except ValueError:  # ValidationError
                return
            previous = self.flows.get(ref.name)
            self.flows[ref.name] = status
            now = clean(status.model_dump(mode="json"))
            # a status republished as it was (after a broker restart) is no news
            if live and (previous is None or clean(previous.model_dump(mode="json")) != now):
                self._add(ref.device, "flow", ref.name, now)
        elif ref.kind == "event" and ref.name is not None and live:
            self._add(ref.device, "event", ref.name, clean(data))
        elif ref.kind == "reply" and live and str(data.get("id", "")).startswith("s"):
            self._add(ref.device, "reply", str(data.get("command")), clean(data))
        self.changed.set()

    def note(self, device: str, kind: str, name: str, data: dict[str, Any]) -> None:
        """Record what the runner itself did (a link fault), while recording."""
        if self.recording:
            self._add(device, kind, name, data)

    def _add(self, device: str, kind: str, name: str, data: dict[str, Any]) -> None:
        entry = {"t": self.t(), "device": device, "kind": kind, "name": name, "data": data}
        self.entries.append(entry)
        self.progress.entry(entry)

    def trace(self) -> list[dict[str, Any]]:
        """The entries, sorted stably by simulated time, then device, kind and name."""
        ordered = sorted(self.entries, key=lambda e: (e["t"], e["device"], e["kind"], e["name"]))
        plain: list[dict[str, Any]] = json.loads(json.dumps(ordered))  # JSON values, as a golden file holds them
        return plain


# -- the run --------------------------------------------------------------------------------------
class _Run:
    """One scenario on one running home."""

    def __init__(self, scenario: Scenario, home: Home, ctl: Controller, recorder: Recorder) -> None:
        self.scenario = scenario
        self.home = home
        self.ctl = ctl
        self.rec = recorder
        self.saved: dict[str, Any] = {}
        self.cursor = 0
        self.last: dict[str, Any] = {}  # reply, event, flow: the latest each step saw
        self.restarts = BrokerRestarts(
            home, lambda: self.rec.note(BROKER, "fault", "restarted", {}), clients=lambda: [ctl.bus]
        )

    # -- substitution ------------------------------------------------------------------------
    def sub(self, value: Any) -> Any:
        """``${name}`` replaced by saved values: whole strings keep the value's type."""
        if isinstance(value, str):
            whole = _REF_RE.fullmatch(value)
            if whole:
                return self.saved[whole.group(1)]
            return _REF_RE.sub(lambda m: str(self.saved[m.group(1)]), value)
        if isinstance(value, dict):
            return {k: self.sub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.sub(v) for v in value]
        return value

    def sub_checks(self, checks: dict[str, Check]) -> dict[str, Check]:
        return {
            name: Check.model_validate(self.sub(check.model_dump(include=check.model_fields_set)))
            for name, check in checks.items()
        }

    # -- steps -------------------------------------------------------------------------------
    async def step(self, index: int, step: Step) -> None:
        if step.send is not None:
            s = step.send
            await self.command(
                index,
                self.sub(s.device),
                self.sub(s.command),
                self.sub(s.args),
                s.timeout,
                expect_ok=s.expect_ok,
                expect_error=s.expect_error,
            )
        elif step.intent is not None:
            i = step.intent
            args = {"intent": self.sub(i.intent), "args": self.sub(i.args)}
            await self.command(index, self.sub(i.device), "tap", args, i.timeout, expect_ok=True, expect_error=None)
        elif step.flow is not None:
            f = step.flow
            reply = await self.command(
                index,
                ORCHESTRATOR,
                f.kind,
                self.sub(f.args),
                f.timeout,
                expect_ok=f.expect_ok,
                expect_error=f.expect_error,
            )
            if reply.get("ok"):
                flow_id = get_path(reply, "result.flow_id")
                if flow_id is _MISSING:
                    expected = "a reply with result.flow_id"
                    raise StepFailed(expected, show(reply))
                self.saved[f.name] = flow_id
        elif step.wait_for is not None:
            await self.wait_for(step.wait_for)
        elif step.sleep is not None:
            if isinstance(self.home.clock, ManualClock):  # nobody else moves a manual clock
                await self.home.clock.advance(step.sleep)
            else:
                await self.home.clock.sleep(step.sleep)
        elif step.expect is not None:
            self.expect(step.expect)
        elif step.save is not None:
            for name, source in step.save.items():
                self.saved[name] = self.source(name, source)
        elif step.fault is not None:
            await self.fault(step.fault)

    async def fault(self, fault: LinkFault | BrokerFault) -> None:
        if isinstance(fault, BrokerFault):
            # the step does not wait: the broker goes down ``after`` from now, the steps go on
            self.rec.note(BROKER, "fault", fault.action, fault.describe())
            self.restarts.schedule(fault.after)
            return
        faults = self.home.faults
        assert faults is not None  # a scenario with a fault step runs its home with faults on
        await faults.apply(fault)
        self.rec.note(fault.device, "fault", fault.action, fault.describe())

    async def command(
        self,
        index: int,
        device: str,
        command: str,
        args: dict[str, Any],
        timeout_s: float,
        *,
        expect_ok: bool,
        expect_error: str | None,
    ) -> dict[str, Any]:
        self.cursor = len(self.rec.entries)
        command_id = f"s{index + 1}"
        try:
            reply = await self.ctl.request(device, command, args, timeout_s=timeout_s, command_id=command_id)
        except TimeoutError:
            expected = f"a reply from {device} to {command}"
            raise StepFailed(expected, f"none within {timeout_s:g} s") from None
        except NotConnectedError as exc:
            # not sent, and never will be (docs/protocol.md, "Commands during an outage"): an error
            # the runner answers itself, so that ``expect_error: not_connected`` can say so
            error = {"code": NOT_CONNECTED, "message": str(exc)}
            data: dict[str, Any] = {"id": command_id, "command": command, "ok": False, "error": error}
        else:
            data = reply.model_dump(mode="json")
        self.last["reply"] = data
        error_code = (data.get("error") or {}).get("code")
        if expect_error is not None and error_code != expect_error:
            expected = f"error {expect_error}"
            raise StepFailed(expected, self._reply_text(data))
        if expect_ok != data["ok"]:
            raise StepFailed("ok" if expect_ok else "an error reply", self._reply_text(data))
        return data

    @staticmethod
    def _reply_text(reply: dict[str, Any]) -> str:
        if reply.get("ok"):
            return f"ok {show(reply.get('result'))}"
        error = reply.get("error") or {}
        return f"error {error.get('code')}: {error.get('message')}"

    def source(self, name: str, source: str) -> Any:
        head, _, rest = source.partition(".")
        if head == "time":
            return self.rec.t()
        if head == "now":
            return self.home.clock.iso()
        if head == "state":
            device, _, path = rest.partition(".")
            value = get_path(self.rec.states.get(self.sub(device), _MISSING), path)
        else:
            value = get_path(self.last.get(head, _MISSING), rest)
        if value is _MISSING:
            expected = f"a value at {source} to save as {name}"
            raise StepFailed(expected, "nothing there")
        return value

    # -- conditions --------------------------------------------------------------------------
    def flow_id(self, ref: str) -> str:
        value = self.sub(ref)
        return str(self.saved.get(value, value))

    def find_event(self, cond: WaitFor | Expect, device: str, where: dict[str, Check]) -> dict[str, Any] | None:
        for position in range(self.cursor, len(self.rec.entries)):
            entry = self.rec.entries[position]
            if (entry["kind"], entry["device"], entry["name"]) == ("event", device, cond.event):
                if not failing(where, entry["data"]):
                    self.cursor = position + 1
                    self.last["event"] = entry["data"]
                    return entry
        return None

    def _seen_events(self, device: str, name: str | None) -> str:
        seen = [
            e["data"]
            for e in self.rec.entries[self.cursor :]
            if (e["kind"], e["device"], e["name"]) == ("event", device, name)
        ]
        return f"{len(seen)} such event(s){': ' + show(seen[-3:]) if seen else ''}"

    def check_now(self, cond: WaitFor | Expect) -> tuple[bool, str, str]:
        """Whether ``cond`` holds now, what it expects, and what is seen."""
        where = self.sub_checks(cond.where)
        if cond.device is not None:
            device = self.sub(cond.device)
            if cond.event is not None:
                expected = f"event {device}/{cond.event}" + (f" with {describe_checks(where)}" if where else "")
                found = self.find_event(cond, device, where)
                return found is not None, expected, self._seen_events(device, cond.event)
            checks = self.sub_checks(cond.device_checks)
            state = self.rec.states.get(device, {})
            wrong = failing(checks, state)
            return not wrong, f"{device} state {describe_checks(checks)}", self._fields(wrong)
        assert cond.flow is not None
        flow_id = self.flow_id(cond.flow)
        flow = self.rec.flows.get(flow_id)
        status = None if flow is None else flow.model_dump(mode="json")
        if status is not None:
            self.last["flow"] = status
        states = cond.flow_states
        checks = dict(where)
        if states:
            checks = {"state": Check(one_of=list(states)), **checks}
        expected = f"flow {cond.flow} ({flow_id}) {describe_checks(checks)}"
        if status is None:
            return False, expected, "no status published for it"
        wrong = failing(checks, status)
        seen = self._fields(wrong) + (f" (error: {status.get('error')})" if status.get("error") else "")
        return not wrong, expected, seen

    @staticmethod
    def _fields(values: dict[str, Any]) -> str:
        return ", ".join(f"{k} = {show(v)}" for k, v in values.items()) or "all hold"

    def expect(self, cond: Expect) -> None:
        ok, expected, seen = self.check_now(cond)
        if not ok:
            raise StepFailed(expected, seen)

    async def wait_for(self, cond: WaitFor) -> None:
        clock = self.home.clock
        if isinstance(clock, ManualClock):
            await self._advance_for(clock, cond)
            return
        result: tuple[bool, str, str] = (False, "", "")
        try:
            async with clock.timeout(cond.timeout):
                while True:
                    self.rec.changed.clear()
                    result = self.check_now(cond)
                    if result[0]:
                        return
                    self._stop_on_flow_end(cond, result)
                    await self.rec.changed.wait()
        except TimeoutError:
            result = self.check_now(cond)
            if result[0]:
                return
        expected = f"{result[1]} within {format_duration(cond.timeout)}"
        raise StepFailed(expected, f"{result[2]} after {format_duration(cond.timeout)}")

    async def _advance_for(self, clock: ManualClock, cond: WaitFor) -> None:
        """``wait_for`` on a manual clock: advance step by step (each one quiet, outside clients
        included) until the condition holds, a flow ends elsewhere, or the timeout is used up."""

        result: tuple[bool, str, str] = (False, "", "")

        def done() -> bool:
            nonlocal result
            result = self.check_now(cond)  # once it holds, not again: an event found moves the cursor
            if result[0]:
                return True
            status = self.rec.flows.get(self.flow_id(cond.flow)) if cond.flow is not None else None
            return status is not None and status.state.terminal

        if not done():
            await clock.advance_until(done, max=cond.timeout)
        if result[0]:
            return
        self._stop_on_flow_end(cond, result)
        expected = f"{result[1]} within {format_duration(cond.timeout)}"
        raise StepFailed(expected, f"{result[2]} after {format_duration(cond.timeout)}")

    def _stop_on_flow_end(self, cond: WaitFor, result: tuple[bool, str, str]) -> None:
        """A flow that ended in another state than awaited will not get there: fail now."""
        if cond.flow is None:
            return
        status = self.rec.flows.get(self.flow_id(cond.flow))
        if status is not None and status.state.terminal:
            raise StepFailed(result[1], f"the flow ended {status.state}: {result[2]}")


# -- entry points ---------------------------------------------------------------------------------
def golden_path(path: Path) -> Path:
    """Where a scenario's golden trace lives: ``golden/<name>.json`` next to the scenario file."""
    return path.parent / "golden" / f"{path.stem}.json"


def dump_trace(trace: list[dict[str, Any]]) -> str:
    """A trace as a golden file holds it: one entry per line, keys sorted."""
    lines = ",\n".join("  " + json.dumps(e, sort_keys=True, ensure_ascii=False) for e in trace)
    return "[\n" + lines + "\n]\n"


def compare_golden(trace: list[dict[str, Any]], golden: list[dict[str, Any]]) -> str | None:
    """None when equal; otherwise the first differing entry, readably."""
    for index, (seen, expected) in enumerate(zip(trace, golden, strict=False)):
        if seen != expected:
            return f"entry {index}: expected {show(expected)}\n  seen {show(seen)}"
    if len(trace) != len(golden):
        index = min(len(trace), len(golden))
        extra = trace[index] if len(trace) > len(golden) else golden[index]
        which = "seen has more" if len(trace) > len(golden) else "golden has more"
        return f"{len(golden)} entries expected, {len(trace)} seen; {which}, from entry {index}: {show(extra)}"
    return None


def compare_runs(first: ScenarioResult, again: ScenarioResult) -> str | None:
    """Where a second run of a scenario differs from the first (outcome, then trace), or None."""
    if (again.status, again.failure) != (first.status, first.failure):
        seen, before = again.failure or "no failure", first.failure or "no failure"
        return f"it {again.status} ({seen}) where run 1 {first.status} ({before})"
    difference = compare_golden(again.trace, first.trace)
    return None if difference is None else difference.replace("golden has more", "run 1 has more")


async def _missing_flows(ctl: Controller, kinds: list[str]) -> list[str]:
    """Which of ``kinds`` the orchestrator does not run, as its retained ``$meta`` says."""
    if not kinds:
        return []
    try:
        known = await ctl.flow_kinds(timeout_s=ORCHESTRATOR_META_TIMEOUT_S)
    except TimeoutError:
        return [f"{kind} (the orchestrator published no $meta)" for kind in kinds]
    return [kind for kind in kinds if kind not in known]


async def run_scenario_file(
    scenario: Scenario,
    path: Path,
    *,
    broker: str | BrokerChoice = "embedded",
    speed: float | None = None,
    update_golden: bool = False,
    progress: Progress | None = None,
) -> ScenarioResult:
    """Run a validated scenario; see the module docstring. ``speed`` overrides the file's clock."""
    hooks = progress or Progress()
    plan = home_plan(scenario, path)
    speed = speed if speed is not None else scenario.clock.speed
    manual = speed is None and scenario.clock.mode == "manual"
    result = ScenarioResult(
        name=path.stem,
        title=scenario.title,
        path=str(path),
        broker=broker if isinstance(broker, str) else broker.kind,
        clock=("manual" if manual else "virtual") if speed is None else f"speed {speed:g}",
    )
    wall0 = time.perf_counter()
    choice = broker if isinstance(broker, BrokerChoice) else BrokerChoice.parse(broker)
    if scenario.restarts_broker and choice.kind == "url":
        raise _broker_not_ours(scenario, path, choice)
    home_up = Home(
        plan,
        broker=broker,
        speed=speed,
        start=scenario.clock.start_s,
        faults=scenario.uses_faults,
        manual=manual,
        settle_s=scenario.clock.settle,
    )
    async with home_up as home, home.controller() as ctl:
        recorder = Recorder(home.topics, home.clock, hooks)
        for kind in ("state", "event", "flow", "reply"):  # not stream/#: frames are not part of a trace
            await ctl.bus.subscribe(home.topics.all_of(kind), recorder)
        await ctl.synced()
        if isinstance(home.clock, VirtualClock):
            # the echo is handled in its instant's order, not last: let the rest of what the
            # broker had for us (a state published just before we subscribed) be handled too
            await home.clock.settle()
        missing = await _missing_flows(ctl, scenario.requires_flows)
        if missing:
            result.status = "skipped"
            result.failure = f"the orchestrator does not run the flow(s) {', '.join(missing)} yet"
            result.golden = "not compared"
            result.wall_s = time.perf_counter() - wall0
            return result
        recorder.t0 = home.clock.now()
        recorder.recording = True
        hooks.scenario_started(scenario, path.stem)
        run = _Run(scenario, home, ctl, recorder)
        try:
            await _steps(run, result, hooks)
        finally:
            await run.restarts.aclose()
        if isinstance(home.clock, VirtualClock):
            # what the last step set off at its instant belongs to the trace too
            await home.clock.settle()
        result.sim_s = recorder.t()
        result.trace = recorder.trace()
    result.wall_s = time.perf_counter() - wall0
    _golden(result, path, virtual=speed is None, update=update_golden)
    return result


def _broker_not_ours(scenario: Scenario, path: Path, choice: BrokerChoice) -> ConfigError:
    index = next(i for i, step in enumerate(scenario.steps) if isinstance(step.fault, BrokerFault))
    _, lines = yamlfile.load(path)
    message = (
        f"a broker restart needs a broker HyperHome runs (embedded or mosquitto), not {choice.describe()}, "
        "which is its operator's"
    )
    return yamlfile.Source(str(path), lines).error(("steps", index, "fault", "broker"), message)


async def _steps(run: _Run, result: ScenarioResult, hooks: Progress) -> None:
    for index, step in enumerate(run.scenario.steps):
        hooks.step_started(index, step, run.rec.t())
        wall = time.perf_counter()
        outcome = StepOutcome(index, step.title or step.action, step.action, "passed", 0.0, 0.0)
        try:
            await run.step(index, step)
        except StepFailed as exc:
            outcome.status = "failed"
            outcome.expected, outcome.seen = exc.expected, exc.seen
            outcome.message = f"{step.label(index)} failed: expected {exc.expected}; seen {exc.seen}"
        except (ConfigError, KeyError) as exc:
            outcome.status = "failed"
            outcome.message = f"{step.label(index)} failed: {exc}"
        outcome.t = run.rec.t()
        outcome.wall_s = time.perf_counter() - wall
        result.steps.append(outcome)
        hooks.step_ended(outcome)
        if outcome.status == "failed":
            result.status = "failed"
            result.failure = outcome.message
            return


def _golden(result: ScenarioResult, path: Path, *, virtual: bool, update: bool) -> None:
    target = golden_path(path)
    if not result.passed or not virtual:
        result.golden = "not compared"
        return
    if update:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(dump_trace(result.trace), encoding="utf-8")
        result.golden = "written"
        return
    if not target.is_file():
        result.golden = "absent"
        return
    golden = json.loads(target.read_text(encoding="utf-8"))
    difference = compare_golden(result.trace, golden)
    if difference is None:
        result.golden = "matched"
        return
    result.golden = "mismatch"
    result.status = "failed"
    result.failure = f"the trace differs from the golden one ({target}) at {difference}"


__all__ = [
    "FLOW_STATES",
    "Progress",
    "Recorder",
    "ScenarioResult",
    "StepOutcome",
    "compare_golden",
    "compare_runs",
    "dump_trace",
    "golden_path",
    "run_scenario_file",
]
