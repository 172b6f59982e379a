"""What the web API needs of scenario runs, as a Protocol.

Scenarios live in a lower layer (``hyperhome.scenarios``) than the orchestrator, so the app does
not import them: the CLI passes an implementation in (``hyperhome.web.scenario_runs.WebRuns``).
Each run plays a scenario in its own, isolated home (own broker, virtual time) in the
background; the app only lists, starts and reads runs.

Errors (both ``HyperHomeError``)::

    RunRefused
    ├── UnknownScenario     no shipped scenario by that name (404)
    └── TooManyRuns         the queue of runs is full (429)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from hyperhome.errors import HyperHomeError

if TYPE_CHECKING:
    from types import TracebackType

    from hyperhome.web.models import RunOut, RunRequest, ScenarioOut


class RunRefused(HyperHomeError):
    """A run could not be started."""


class UnknownScenario(RunRefused):
    """No shipped scenario has that name."""


class TooManyRuns(RunRefused):
    """Runs are queued up to the limit; try again when one has ended."""


class ScenarioRuns(Protocol):
    """Scenario listing and background runs; entered by the app's lifespan, which owns the runs."""

    async def __aenter__(self) -> ScenarioRuns: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def scenarios(self) -> list[ScenarioOut]:
        """The shipped scenarios."""
        ...

    def start(self, name: str, request: RunRequest) -> RunOut:
        """Queue a run of scenario ``name``; UnknownScenario or TooManyRuns if it cannot."""
        ...

    def get(self, run_id: str) -> RunOut | None:
        """A run's progress, timeline and result; None if there is no such run (any more)."""
        ...

    def runs(self) -> list[RunOut]:
        """The runs kept, newest first."""
        ...
