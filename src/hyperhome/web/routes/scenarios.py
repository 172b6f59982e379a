"""``/api/scenarios`` and ``/api/runs``: scenario runs from the browser, each in its own home."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from fastapi import APIRouter, Body, Response

from hyperhome.web.guard import WireJsonRoute
from hyperhome.web.models import RunOut, RunRequest, ScenarioOut
from hyperhome.web.runs import TooManyRuns, UnknownScenario
from hyperhome.web.state import ApiError, Runs, errors_doc, missing

router = APIRouter(tags=["scenarios"], route_class=WireJsonRoute)  # bodies read by wire.loads (guard.py)


@router.get("/api/scenarios", response_model=list[ScenarioOut], responses=errors_doc(503))
async def scenarios(runs: Runs) -> list[ScenarioOut]:
    """The shipped scenarios."""
    return runs.scenarios()


@router.post(
    "/api/scenarios/{name}/runs",
    response_model=RunOut,
    status_code=HTTPStatus.ACCEPTED,
    responses=errors_doc(404, 429, 503),
)
async def start_run(
    runs: Runs, response: Response, name: str, body: Annotated[RunRequest | None, Body()] = None
) -> RunOut:
    """Run a scenario in its own home (own broker, virtual time), in the background."""
    try:
        run = runs.start(name, body or RunRequest())
    except UnknownScenario as exc:
        missing("scenario", name, str(exc))
    except TooManyRuns as exc:
        raise ApiError(HTTPStatus.TOO_MANY_REQUESTS, "busy", str(exc)) from None
    response.headers["Location"] = f"/api/runs/{run.id}"
    return run


@router.get("/api/runs", response_model=list[RunOut], responses=errors_doc(503))
async def list_runs(runs: Runs) -> list[RunOut]:
    """The runs kept, newest first."""
    return runs.runs()


@router.get("/api/runs/{run_id}", response_model=RunOut, responses=errors_doc(404, 503))
async def run(runs: Runs, run_id: str) -> RunOut:
    """A run's progress, timeline and result."""
    found = runs.get(run_id)
    if found is None:
        missing("run", run_id)
    return found
