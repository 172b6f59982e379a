"""The dashboard page, ``/api/home``, ``/api/health`` and ``POST /api/clock/advance``."""

from __future__ import annotations

from http import HTTPStatus
from importlib import resources

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from hyperhome.devices.clock import ManualClock
from hyperhome.orchestrator.clockcmd import AdvanceArgs, advance_by
from hyperhome.web.guard import WireJsonRoute
from hyperhome.web.models import AdvanceOut, ErrorBody, HealthOut, HomeOut
from hyperhome.web.state import STATIC, ApiError, Web, WebState, bus_state, clock_out

router = APIRouter(tags=["home"], route_class=WireJsonRoute)  # bodies read by wire.loads (guard.py)


@router.get("/", include_in_schema=False)
async def dashboard() -> HTMLResponse:
    index = resources.files("hyperhome.web").joinpath(STATIC, "index.html")
    return HTMLResponse(index.read_text(encoding="utf-8"))


@router.get("/api/home", response_model=HomeOut)
async def home(web: Web) -> HomeOut:
    """The home, its orchestrator's availability and the simulated time."""
    clock = web.link.clock
    return HomeOut(
        home=web.link.topics.home,
        name=web.link.name or web.link.topics.home,
        root=web.link.topics.root,
        bus=bus_state(web),
        orchestrator=web.orchestrator if web.bus_connected else None,
        clock=clock_out(clock) if clock is not None else None,
        scenarios=web.runs is not None,
    )


@router.get("/api/health", response_model=HealthOut, responses={503: {"model": HealthOut}})
async def health(request: Request) -> Response:
    """200 while the API's own MQTT connection is up, else 503: only then is what it says live."""
    web: WebState | None = getattr(request.app.state, "web", None)
    if web is None:
        down = HealthOut(status="unavailable", bus="disconnected", detail="the API is starting or stopping")
        return JSONResponse(down.model_dump(mode="json"), status_code=HTTPStatus.SERVICE_UNAVAILABLE)
    if not web.bus_connected:
        detail = "the API's MQTT connection is down (reconnecting): device availability is unknown"
        down = HealthOut(status="unavailable", bus="disconnected", detail=detail)
        return JSONResponse(down.model_dump(mode="json"), status_code=HTTPStatus.SERVICE_UNAVAILABLE)
    return JSONResponse(HealthOut(status="ok", bus="connected").model_dump(mode="json"))


@router.post(
    "/api/clock/advance",
    response_model=AdvanceOut,
    responses={409: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)
async def advance_clock(body: AdvanceArgs, web: Web) -> AdvanceOut:
    """With a manual clock (``hyperhome up --clock manual``): advance it ``by`` a duration
    (``"10m"``) and answer once the step is done and the home is quiet. 409 ``not_manual`` on
    another clock; 409 ``rejected`` when the home stayed busy (the detail says what was)."""
    clock = web.link.clock
    if not isinstance(clock, ManualClock):
        mode = "no" if clock is None else f"a {clock.mode}"
        raise ApiError(HTTPStatus.CONFLICT, "not_manual", f"this home runs {mode} clock: start it with --clock manual")
    result = await advance_by(clock, body.model_dump())
    return AdvanceOut(now=result["now"], steps=result["steps"])
