"""Scenario runs for the web API (``hyperhome.web.runs.ScenarioRuns``).

Each run plays a shipped scenario exactly as ``hyperhome run`` does (``run_scenario_file``): in
its own home with its own broker and virtual time, isolated from the home the dashboard shows.

It plays in a child process (``python -m hyperhome.web.scenario_runs NAME``), not in the API's
event loop: a scenario in virtual time runs flat out, and in the same loop it held the live home's
loop up for 26 to 96 ms at a time (rear_camera_handoff, 2-core machine; 6 to 15 ms with the run in
a child), close to the 100 ms after which a 30 fps call counts its picture as blank. The child
costs about 2 s of interpreter start per run. It reports its progress hooks as JSON lines on
stdout (``Hook``); the parent validates each line and keeps the run's record, so
``GET /api/runs/{id}`` shows the step, the timeline and, at the end, the same result
``hyperhome run --json`` writes (without the trace).

Runs are background tasks owned by ``WebRuns`` (cancelled, and their child stopped, when it
exits); one plays at a time (one core for the live home, one for the run on a small machine) and
a few more wait in a queue.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import signal
import sys
from collections import OrderedDict, deque
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from hyperhome.errors import HyperHomeError
from hyperhome.scenarios.report import entry_text
from hyperhome.scenarios.runner import Progress, StepOutcome, run_scenario_file
from hyperhome.scenarios.scenario import Scenario, load_scenario, shipped_scenarios
from hyperhome.tasks import TaskOwner
from hyperhome.web.models import RunOut, RunRequest, ScenarioOut, StepOut, TimelineEntry
from hyperhome.web.runs import TooManyRuns, UnknownScenario

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from types import TracebackType

    from hyperhome.scenarios.scenario import Step

log = logging.getLogger(__name__)

MAX_ACTIVE = 4
"""Runs playing or waiting at once; more are refused with 429 (each one is a process with a broker)."""
KEEP = 20
"""Finished runs kept for GET /api/runs/{id}; older ones are forgotten."""
TIMELINE_MAX = 500
"""Newest timeline entries a run keeps (a long scenario records thousands of state changes)."""
RUN_TIMEOUT_S = 600.0
"""Wall-clock bound on one run; every shipped scenario takes a few seconds."""
STOP_TIMEOUT_S = 10.0
"""Bound on a stopped child's exit (it tears its home and broker down), and on WebRuns' exit."""
LINE_LIMIT = 1 << 20
"""Longest progress line read from a child (an entry holds one device's state: a few KiB)."""
STOPPED = "the server stopped before the run ended"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# -- what a child reports, one JSON line per hook --------------------------------------------------
class _Started(BaseModel):
    hook: Literal["scenario_started"]


class _StepStarted(BaseModel):
    hook: Literal["step_started"]
    index: int = Field(ge=0)
    title: str
    t: float


class _StepEnded(BaseModel):
    hook: Literal["step_ended"]
    outcome: StepOut


class _Entry(BaseModel):
    hook: Literal["entry"]
    entry: TimelineEntry


class _Result(BaseModel):
    hook: Literal["result"]
    result: dict[str, Any]


class _Failed(BaseModel):
    hook: Literal["error"]
    message: str


Hook = Annotated[_Started | _StepStarted | _StepEnded | _Entry | _Result | _Failed, Field(discriminator="hook")]
_HOOK = TypeAdapter(Hook)


class JsonLines(Progress):
    """The child's progress hooks, written to stdout as JSON lines (the parent reads them)."""

    def write(self, data: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")
        sys.stdout.flush()

    def scenario_started(self, scenario: Scenario, name: str) -> None:
        self.write({"hook": "scenario_started"})

    def step_started(self, index: int, step: Step, t: float) -> None:
        self.write({"hook": "step_started", "index": index, "title": step.title or step.action, "t": t})

    def step_ended(self, outcome: StepOutcome) -> None:
        self.write({"hook": "step_ended", "outcome": outcome.as_dict()})

    def entry(self, entry: dict[str, Any]) -> None:
        self.write({"hook": "entry", "entry": {**entry, "text": entry_text(entry)}})


# -- the parent's record of one run --------------------------------------------------------------------
class _Run:
    def __init__(self, run_id: str, name: str, scenario: Scenario, broker: str) -> None:
        self.name = name
        self.out = RunOut(
            id=run_id,
            scenario=name,
            title=scenario.title,
            broker=broker,
            status="queued",
            steps=len(scenario.steps),
            created=_now(),
        )
        self.timeline: deque[TimelineEntry] = deque(maxlen=TIMELINE_MAX)
        self.entries = 0
        self.changed = asyncio.Event()

    def apply(self, hook: Hook) -> None:
        self.changed.set()
        out = self.out
        if isinstance(hook, _Started):
            out.status = "running"
        elif isinstance(hook, _StepStarted):
            out.step, out.step_title, out.sim_t = hook.index + 1, hook.title, hook.t
        elif isinstance(hook, _StepEnded):
            out.outcomes.append(hook.outcome)
            out.sim_t = hook.outcome.t
        elif isinstance(hook, _Entry):
            self.entries += 1
            self.timeline.append(hook.entry)
            out.sim_t = hook.entry.t
        elif isinstance(hook, _Result):
            out.result = hook.result
            status = hook.result.get("status")
            out.status = status if status in ("passed", "failed", "skipped") else "error"
        else:
            out.status, out.error = "error", hook.message

    def fail(self, message: str) -> None:
        self.changed.set()
        self.out.status = "error"
        self.out.error = message

    def end(self) -> None:
        self.changed.set()
        self.out.ended = _now()

    def snapshot(self) -> RunOut:
        return self.out.model_copy(
            update={"timeline": list(self.timeline), "dropped": self.entries - len(self.timeline)}, deep=True
        )


class WebRuns:
    """Shipped scenarios, each run in a child process for the web API; see the module docstring."""

    def __init__(self, *, max_active: int = MAX_ACTIVE, keep: int = KEEP, run_timeout_s: float = RUN_TIMEOUT_S) -> None:
        self.max_active = max_active
        self.keep = keep
        self.run_timeout_s = run_timeout_s
        self._ids = itertools.count(1)
        self._runs: OrderedDict[str, _Run] = OrderedDict()
        self._tasks = TaskOwner("web runs", logger=log)
        self._one_at_a_time: asyncio.Lock | None = None
        self._catalogue: dict[str, tuple[Scenario, Path]] | None = None

    async def __aenter__(self) -> WebRuns:
        if self._one_at_a_time is not None:
            msg = "WebRuns is not reentrant"
            raise HyperHomeError(msg)
        self._one_at_a_time = asyncio.Lock()
        await self._tasks.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._tasks.aclose(timeout_s=STOP_TIMEOUT_S * 2)
        for run in self._runs.values():  # a task cancelled before it began never ran its handler
            if run.out.ended is None:
                run.fail(STOPPED)
                run.end()
        self._one_at_a_time = None

    # -- the protocol ---------------------------------------------------------------------------------
    def scenarios(self) -> list[ScenarioOut]:
        return [
            ScenarioOut(
                name=name,
                title=scenario.title,
                article=scenario.article,
                requires_flows=list(scenario.requires_flows),
                steps=len(scenario.steps),
            )
            for name, (scenario, _) in self._shipped().items()
        ]

    def start(self, name: str, request: RunRequest) -> RunOut:
        if self._one_at_a_time is None:
            msg = "WebRuns must be entered (async with) before it runs anything"
            raise HyperHomeError(msg)
        found = self._shipped().get(name)
        if found is None:
            msg = f"no shipped scenario {name!r} (shipped: {', '.join(sorted(self._shipped()))})"
            raise UnknownScenario(msg)
        if len(self._tasks.tasks) >= self.max_active:
            msg = f"{len(self._tasks.tasks)} runs are playing or waiting already; try again when one has ended"
            raise TooManyRuns(msg)
        run = _Run(f"r-{next(self._ids)}", name, found[0], request.broker)
        self._runs[run.out.id] = run
        self._forget_old()
        self._tasks.spawn(self._play(run), name=f"scenario-run:{run.out.id}:{name}", failure=f"run {run.out.id} failed")
        return run.snapshot()

    def get(self, run_id: str) -> RunOut | None:
        run = self._runs.get(run_id)
        return run.snapshot() if run is not None else None

    def runs(self) -> list[RunOut]:
        return [run.snapshot() for run in reversed(self._runs.values())]

    async def wait(self, run_id: str, until: Callable[[RunOut], bool], *, timeout_s: float) -> RunOut:
        """Wait (bounded) until the run's record satisfies ``until``; KeyError for an unknown run."""
        run = self._runs[run_id]
        async with asyncio.timeout(timeout_s):
            while not until(run.out):
                run.changed.clear()
                await run.changed.wait()
        return run.snapshot()

    # -- inside -------------------------------------------------------------------------------------
    def _shipped(self) -> dict[str, tuple[Scenario, Path]]:
        if self._catalogue is None:
            self._catalogue = {name: load_scenario(path) for name, path in shipped_scenarios().items()}
        return self._catalogue

    def _forget_old(self) -> None:
        finished = [rid for rid, r in self._runs.items() if r.out.ended is not None]
        for run_id in finished[: max(0, len(finished) - self.keep)]:
            del self._runs[run_id]

    async def _play(self, run: _Run) -> None:
        lock = self._one_at_a_time
        assert lock is not None
        try:
            async with lock:
                run.out.started = _now()
                run.out.status = "running"
                async with asyncio.timeout(self.run_timeout_s):
                    await _child(run)
        except TimeoutError:
            run.fail(f"the run did not finish within {self.run_timeout_s:g} s")
        except asyncio.CancelledError:
            run.fail(STOPPED)
            raise
        except OSError as exc:
            run.fail(f"could not start the run's process: {exc}")
        except Exception as exc:  # a run's failure must never reach the API (it is reported instead)
            log.exception("scenario run %s failed", run.out.id)
            run.fail(f"{type(exc).__name__}: {exc}")
        finally:
            run.end()


async def _child(run: _Run) -> None:
    """Play ``run`` in a child process and follow its progress lines until it exits."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hyperhome.web.scenario_runs",
        run.name,
        "--broker",
        run.out.broker,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        limit=LINE_LIMIT,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    stderr = asyncio.create_task(proc.stderr.read())
    try:
        while line := await proc.stdout.readline():
            try:
                run.apply(_HOOK.validate_json(line))
            except ValidationError as exc:
                log.warning("run %s: ignoring a malformed progress line: %s", run.out.id, exc)
        code = await proc.wait()
    finally:
        if proc.returncode is None:
            await _stop(proc)
        errors = (await stderr).decode(errors="replace").strip()
    if run.out.result is None and run.out.error is None:
        last = errors.splitlines()[-1] if errors else "no output"
        run.fail(f"the run's process exited with code {code}: {last}")


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM (the child tears its home down), then SIGKILL if it does not exit in time."""
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        async with asyncio.timeout(STOP_TIMEOUT_S):
            await proc.wait()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


# -- the child --------------------------------------------------------------------------------------
async def _play_here(name: str, broker: str) -> int:
    progress = JsonLines()
    try:
        scenario, path = load_scenario(name)
        result = await run_scenario_file(scenario, path, broker=broker, progress=progress)
    except HyperHomeError as exc:  # a broker that cannot start, a home that does not come up
        progress.write({"hook": "error", "message": str(exc)})
        return 1
    progress.write({"hook": "result", "result": result.as_dict(with_trace=False)})
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m hyperhome.web.scenario_runs NAME [--broker B]``: one run, progress as JSON lines."""
    parser = argparse.ArgumentParser(description="Play one scenario; progress hooks as JSON lines on stdout.")
    parser.add_argument("name")
    parser.add_argument("--broker", choices=["embedded", "mosquitto"], default="embedded")
    args = parser.parse_args(argv)

    async def guarded() -> int:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await _play_here(args.name, args.broker)

    try:
        return asyncio.run(guarded())
    except (KeyboardInterrupt, asyncio.CancelledError):
        return 130


if __name__ == "__main__":
    sys.exit(main())
