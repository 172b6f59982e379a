"""The web API and the live dashboard of one home (FastAPI).

``create_app(link)`` builds the app; its lifespan owns one MQTT client with the home's controller
login (``Controller``: a registry from the retained messages, commands and their replies, flow
statuses) and the ``EventHub`` behind the WebSocket. ``hyperhome up`` serves it on 127.0.0.1
(``serve.py``); docs/web.md lists the routes, OpenAPI is at ``/docs``.

Errors are answered as ``ErrorBody`` with the HTTP status a client can act on. A device's or the
orchestrator's error reply is the project's one wire error, ``CommandError``, answered in one
handler with the status of its code: ``invalid_args`` 422, ``rejected`` 409, ``forbidden`` 403,
``bad_request`` 400, ``unknown_command`` 404, ``internal`` 502. What only HTTP says is an
``ApiError``: an unknown device, command, flow, scenario or run is 404; an offline device (or
orchestrator) 503; no reply in time 504; link faults on a home run without fault proxies 409.

Security (``guard.py``): the server binds 127.0.0.1 only, and a browser on another site may
neither drive the home nor read its events: requests that change something and WebSocket
handshakes carrying an ``Origin`` header must come from the server's own origin, the ``Host``
header must name this machine (against DNS rebinding), and bodies are limited by the bytes read.
Credentials never leave the server, and no secret reaches a browser (``secrets.py``).

While the API's own MQTT connection is down it does not know whether devices are online: it
says so (``online: null``, ``bus: disconnected``) and ``GET /api/health`` answers 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from http import HTTPStatus
from importlib import resources
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

from fastapi import Body, FastAPI, Query, Request, Response, WebSocket, WebSocketDisconnect, status
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from pydantic import ValidationError
from starlette.websockets import WebSocketState

from hyperhome import __version__
from hyperhome.broker.faults import FaultControl, LinkFault, LinkStatus
from hyperhome.broker.topics import ORCHESTRATOR, Topics
from hyperhome.broker.wire import ONLINE, Reply, loads
from hyperhome.errors import BusError, CommandError, ErrorCode
from hyperhome.orchestrator.controller import TERMINAL, Controller
from hyperhome.web.events import EventHub, FilterError, Subscriber, parse_filter
from hyperhome.web.guard import guard
from hyperhome.web.models import (
    ClockOut,
    DeviceOut,
    ErrorBody,
    FlowStarted,
    FlowStatus,
    HealthOut,
    HomeOut,
    RunOut,
    RunRequest,
    ScenarioOut,
    WsControl,
)
from hyperhome.web.redact import Redactor
from hyperhome.web.runs import ScenarioRuns, TooManyRuns, UnknownScenario

if TYPE_CHECKING:
    from hyperhome.broker.client import Connector, Message
    from hyperhome.broker.credentials import Login
    from hyperhome.devices.clock import Clock
    from hyperhome.orchestrator.registry import DeviceView

log = logging.getLogger(__name__)

STATIC = "static"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
"""Command and flow names (broker/topics.py ``check_name``)."""
STATUS_OF_CODE = {
    ErrorCode.BAD_REQUEST: HTTPStatus.BAD_REQUEST,
    ErrorCode.UNKNOWN_COMMAND: HTTPStatus.NOT_FOUND,
    ErrorCode.INVALID_ARGS: HTTPStatus.UNPROCESSABLE_ENTITY,
    ErrorCode.REJECTED: HTTPStatus.CONFLICT,
    ErrorCode.FORBIDDEN: HTTPStatus.FORBIDDEN,
    ErrorCode.INTERNAL: HTTPStatus.BAD_GATEWAY,
}
"""HTTP status for each wire error code of a reply (docs/protocol.md)."""
WS_TICK_S = 1.0
"""A WebSocket gets the simulated time at least this often (the dashboard's clock and ETAs)."""


@dataclass(frozen=True)
class HomeLink:
    """How the app reaches its home: the broker, the controller login, the home's topics.

    ``clock`` (optional) lets the API tell the simulated time; ``name`` is shown on the page.
    """

    connect: Connector
    login: Login
    topics: Topics
    name: str = ""
    clock: Clock | None = None


@dataclass
class Settings:
    reply_timeout_s: float = 10.0
    """Wall seconds to wait for a device's reply before answering 504."""
    flow_end_timeout_s: float = 10.0
    """Wall seconds DELETE /api/flows/{id} waits for the cancelled flow to end."""
    frame_interval_s: float = 0.1
    """Least wall time between two frames of one stream sent to one WebSocket."""


class ApiError(Exception):
    """What only HTTP says (404 for an unknown name, 503, 504, ...): answered as ``ErrorBody`` with
    ``status_code``. A wire error reply is a ``CommandError`` instead."""

    def __init__(self, status_code: int, code: str, detail: str, reply: Reply | None = None) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.body = ErrorBody(detail=detail, code=code, reply=reply)


@dataclass
class WebState:
    """What the routes use; set on ``app.state.web`` while the lifespan runs."""

    link: HomeLink
    ctl: Controller
    hub: EventHub
    redactor: Redactor
    runs: ScenarioRuns | None
    settings: Settings
    orchestrator: str | None = None
    faults: FaultControl | None = None

    def on_orchestrator(self, message: Message) -> None:
        self.orchestrator = message.text.strip() or None

    @property
    def bus_connected(self) -> bool:
        """Whether the API's own MQTT connection is up: what it knows of the home is live only then."""
        return self.ctl.bus.connected


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody} for code in codes}


def create_app(
    link: HomeLink,
    *,
    runs: ScenarioRuns | None = None,
    settings: Settings | None = None,
    faults: FaultControl | None = None,
) -> FastAPI:
    """The app for one home; see the module docstring. ``faults``: the home's fault proxies
    (``hyperhome up --faults``), for ``/api/faults``."""
    conf = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            ctl = await stack.enter_async_context(Controller(link.connect, link.login, link.topics, clock=None))
            redactor = Redactor(ctl.registry)
            web = WebState(link, ctl, EventHub(ctl.bus, link.topics, redactor), redactor, runs, conf, faults=faults)
            await ctl.bus.subscribe(link.topics.availability(ORCHESTRATOR), web.on_orchestrator)
            await web.hub.attach()
            await ctl.synced()
            if runs is not None:
                await stack.enter_async_context(runs)
            app.state.web = web
            try:
                yield
            finally:
                app.state.web = None

    app = FastAPIOffline(  # FastAPI with /docs and /redoc served from local files: no CDN, works offline
        title="HyperHome",
        version=__version__,
        summary="Drive and watch a simulated home: devices, commands, flows, scenario runs, live events.",
        lifespan=lifespan,
    )
    guard(app)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(CommandError, _command_error)
    app.mount("/static", StaticFiles(packages=[("hyperhome.web", STATIC)]), name="static")
    _routes(app)
    return app


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body.model_dump(mode="json"), status_code=exc.status_code)


async def _command_error(request: Request, exc: Exception) -> Response:
    """An error reply, with the HTTP status of its wire code."""
    assert isinstance(exc, CommandError)
    body = ErrorBody(detail=exc.message, code=exc.code.value, reply=exc.reply)
    return JSONResponse(body.model_dump(mode="json"), status_code=STATUS_OF_CODE.get(exc.code, HTTPStatus.BAD_GATEWAY))


def _web(request: Request) -> WebState:
    web: WebState | None = getattr(request.app.state, "web", None)
    if web is None:
        raise ApiError(HTTPStatus.SERVICE_UNAVAILABLE, "not_connected", "the API is starting or stopping")
    return web


def _linked(request: Request) -> WebState:
    """For a route that sends a command: without the API's own connection to the broker, 503
    ``not_connected`` at once. Nothing is queued (docs/protocol.md, "Commands during an outage"),
    and the registry may be out of date meanwhile, so this is checked before anything it says."""
    web = _web(request)
    if not web.ctl.bus.connected:
        detail = "the API has no connection to the broker now; the command was not sent (send it again later)"
        raise ApiError(HTTPStatus.SERVICE_UNAVAILABLE, "not_connected", detail)
    return web


# -- conversions --------------------------------------------------------------------------------------
def _device_out(view: DeviceView, *, live: bool = True) -> DeviceOut:
    """A device as last seen; ``live=False`` (the API's connection is down): whether it is online is unknown."""
    meta = view.meta
    return DeviceOut(
        id=view.id,
        name=meta.name if meta else None,
        kind=meta.kind if meta else None,
        room=meta.room if meta else None,
        owner=meta.owner if meta else None,
        availability=view.availability,
        online=view.online if live else None,
        meta=meta,
        state=view.state,
    )


def _flow_out(raw: dict[str, Any]) -> FlowStatus | None:
    try:
        return FlowStatus.model_validate(raw)
    except ValidationError:
        log.warning("ignoring a malformed flow status: %s", raw)
        return None


def _missing(what: str, name: str, detail: str | None = None) -> NoReturn:
    """404 with code ``unknown_{what}``."""
    raise ApiError(HTTPStatus.NOT_FOUND, f"unknown_{what}", detail or f"no {what} {name!r}")


async def _request(web: WebState, device: str, command: str, args: dict[str, Any]) -> Reply:
    """Send a command through the controller; 504 without a reply, 503 without a broker."""
    try:
        return await web.ctl.request(device, command, args, timeout_s=web.settings.reply_timeout_s)
    except TimeoutError:
        msg = f"no reply from {device} to {command} within {web.settings.reply_timeout_s:g} s"
        raise ApiError(HTTPStatus.GATEWAY_TIMEOUT, "timeout", msg) from None
    except BusError as exc:
        msg = f"the command was not sent: {exc}"
        raise ApiError(HTTPStatus.SERVICE_UNAVAILABLE, "not_connected", msg) from None


def _check_name(value: str, what: str) -> str:
    if not NAME_RE.fullmatch(value):
        _missing(what, value)
    return value


Args = Annotated[dict[str, Any] | None, Body(description="The args, a JSON object (empty or absent: none).")]


# -- routes --------------------------------------------------------------------------------------------
def _routes(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    async def dashboard() -> HTMLResponse:
        index = resources.files("hyperhome.web").joinpath(STATIC, "index.html")
        return HTMLResponse(index.read_text(encoding="utf-8"))

    @app.get("/api/home", response_model=HomeOut, tags=["home"])
    async def home(request: Request) -> HomeOut:
        """The home, its orchestrator's availability and the simulated time."""
        web = _web(request)
        clock = web.link.clock
        return HomeOut(
            home=web.link.topics.home,
            name=web.link.name or web.link.topics.home,
            root=web.link.topics.root,
            bus=_bus(web),
            orchestrator=web.orchestrator if web.bus_connected else None,
            clock=_clock_out(clock) if clock is not None else None,
            scenarios=web.runs is not None,
        )

    @app.get("/api/health", response_model=HealthOut, responses={503: {"model": HealthOut}}, tags=["home"])
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

    @app.get("/api/devices", response_model=list[DeviceOut], tags=["devices"])
    async def devices(request: Request) -> list[DeviceOut]:
        """Every device with its `$meta`, state and availability, by id."""
        return _all_devices(_web(request))

    @app.get("/api/devices/{device_id}", response_model=DeviceOut, responses=_errors(404), tags=["devices"])
    async def device(request: Request, device_id: str) -> DeviceOut:
        """One device with its `$meta`, state and availability."""
        web = _web(request)
        view = web.ctl.registry.get(device_id)
        if view is None:
            _missing("device", device_id)
        return _device_out(view, live=web.bus_connected)

    @app.post(
        "/api/devices/{device_id}/commands/{command}",
        response_model=Reply,
        responses=_errors(400, 403, 404, 409, 422, 502, 503, 504),
        tags=["devices"],
    )
    async def send_command(request: Request, device_id: str, command: str, args: Args = None) -> Reply:
        """Send a command and answer with the device's reply (an error reply gives its HTTP status)."""
        web = _linked(request)
        view = web.ctl.registry.get(device_id)
        if view is None or view.meta is None:
            _missing("device", device_id)
        if command not in view.meta.commands:
            known = ", ".join(sorted(view.meta.commands))
            _missing("command", command, f"{device_id} has no command {command!r} (commands: {known})")
        _require_bus(web)
        if not view.online:
            raise ApiError(HTTPStatus.SERVICE_UNAVAILABLE, "offline", f"{device_id} is {view.availability}")
        reply = await _request(web, device_id, command, args or {})
        if not reply.ok:
            raise CommandError.from_reply(reply)
        return reply.model_copy(update={"result": web.redactor.result(device_id, command, reply.result)})

    @app.get("/api/flows", response_model=list[FlowStatus], tags=["flows"])
    async def flows(request: Request) -> list[FlowStatus]:
        """Every flow status the orchestrator published (retained), newest first."""
        found = [_flow_out(raw) for raw in _web(request).ctl.flows.values()]
        return sorted((f for f in found if f is not None), key=_flow_order, reverse=True)

    @app.post(
        "/api/flows/{kind}",
        response_model=FlowStarted,
        status_code=HTTPStatus.CREATED,
        responses=_errors(403, 404, 409, 422, 503, 504),
        tags=["flows"],
    )
    async def start_flow(request: Request, response: Response, kind: str, args: Args = None) -> FlowStarted:
        """Ask the orchestrator to start a flow (docs/flows.md); its id and first status."""
        web = _linked(request)
        _check_name(kind, "flow")
        if kind == "flow.cancel":
            _missing("flow", kind, "cancel a flow with DELETE /api/flows/{id}")
        _require_bus(web)
        if web.orchestrator != ONLINE:
            raise ApiError(HTTPStatus.SERVICE_UNAVAILABLE, "offline", f"the orchestrator is {web.orchestrator}")
        reply = await _request(web, ORCHESTRATOR, kind, args or {})
        if not reply.ok:
            raise CommandError.from_reply(reply)
        flow_id = (reply.result or {}).get("flow_id")
        if flow_id is None:
            response.status_code = HTTPStatus.OK
            return FlowStarted(flow_id=None, reply=reply, status=None)
        flow_id = str(flow_id)
        response.headers["Location"] = f"/api/flows/{flow_id}"
        first: FlowStatus | None = None
        with contextlib.suppress(TimeoutError):
            raw = await web.ctl.wait_flow(flow_id, lambda _: True, timeout_s=web.settings.reply_timeout_s)
            first = _flow_out(raw)
        return FlowStarted(flow_id=flow_id, reply=reply, status=first)

    @app.get("/api/flows/{flow_id}", response_model=FlowStatus, responses=_errors(404), tags=["flows"])
    async def flow(request: Request, flow_id: str) -> FlowStatus:
        """A flow's status: state, steps, result or error."""
        raw = _web(request).ctl.flows.get(flow_id)
        found = _flow_out(raw) if raw is not None else None
        if found is None:
            _missing("flow", flow_id)
        return found

    @app.delete(
        "/api/flows/{flow_id}", response_model=FlowStatus, responses=_errors(404, 409, 503, 504), tags=["flows"]
    )
    async def cancel_flow(request: Request, flow_id: str) -> FlowStatus:
        """Cancel a running flow; its status once it ended (its clean-up done)."""
        web = _linked(request)
        if flow_id not in web.ctl.flows:
            _missing("flow", flow_id)
        reply = await _request(web, ORCHESTRATOR, "flow.cancel", {"flow_id": flow_id})
        if not reply.ok:
            raise CommandError.from_reply(reply)
        try:
            raw = await web.ctl.wait_flow(
                flow_id, lambda s: s.get("state") in TERMINAL, timeout_s=web.settings.flow_end_timeout_s
            )
        except TimeoutError:
            msg = f"{flow_id} was cancelled but did not end within {web.settings.flow_end_timeout_s:g} s"
            raise ApiError(HTTPStatus.GATEWAY_TIMEOUT, "timeout", msg) from None
        found = _flow_out(raw)
        if found is None:
            _missing("flow", flow_id)
        return found

    @app.get("/api/scenarios", response_model=list[ScenarioOut], responses=_errors(503), tags=["scenarios"])
    async def scenarios(request: Request) -> list[ScenarioOut]:
        """The shipped scenarios."""
        return _runs(request).scenarios()

    @app.post(
        "/api/scenarios/{name}/runs",
        response_model=RunOut,
        status_code=HTTPStatus.ACCEPTED,
        responses=_errors(404, 429, 503),
        tags=["scenarios"],
    )
    async def start_run(
        request: Request, response: Response, name: str, body: Annotated[RunRequest | None, Body()] = None
    ) -> RunOut:
        """Run a scenario in its own home (own broker, virtual time), in the background."""
        runs = _runs(request)
        try:
            run = runs.start(name, body or RunRequest())
        except UnknownScenario as exc:
            _missing("scenario", name, str(exc))
        except TooManyRuns as exc:
            raise ApiError(HTTPStatus.TOO_MANY_REQUESTS, "busy", str(exc)) from None
        response.headers["Location"] = f"/api/runs/{run.id}"
        return run

    @app.get("/api/runs", response_model=list[RunOut], responses=_errors(503), tags=["scenarios"])
    async def list_runs(request: Request) -> list[RunOut]:
        """The runs kept, newest first."""
        return _runs(request).runs()

    @app.get("/api/runs/{run_id}", response_model=RunOut, responses=_errors(404, 503), tags=["scenarios"])
    async def run(request: Request, run_id: str) -> RunOut:
        """A run's progress, timeline and result."""
        found = _runs(request).get(run_id)
        if found is None:
            _missing("run", run_id)
        return found

    @app.get("/api/faults", response_model=list[LinkStatus], responses=_errors(409), tags=["faults"])
    async def links(request: Request) -> list[LinkStatus]:
        """Every device's link: latency, stall, partition, connections through its fault proxy."""
        return _faults(request).links()

    @app.get("/api/faults/{device_id}", response_model=LinkStatus, responses=_errors(404, 409), tags=["faults"])
    async def link(request: Request, device_id: str) -> LinkStatus:
        """One device's link."""
        found = _faults(request).link(device_id)
        if found is None:
            _missing("device", device_id, f"no device {device_id!r} has a link in this home")
        return found

    @app.post("/api/faults", response_model=LinkStatus, responses=_errors(404, 409), tags=["faults"])
    async def set_link(request: Request, fault: Annotated[LinkFault, Body()]) -> LinkStatus:
        """Set one device's link: ``latency``, ``stall``, ``drop``, ``partition`` or ``clear``."""
        control = _faults(request)
        if control.link(fault.device) is None:
            _missing("device", fault.device, f"no device {fault.device!r} has a link in this home")
        return await control.apply(fault)

    @app.websocket("/api/events")
    async def events(
        websocket: WebSocket,
        topic: Annotated[list[str] | None, Query(max_length=32)] = None,
        snapshot: bool = True,
    ) -> None:
        """Live messages of the home as JSON, filtered by topic (see docs/web.md)."""
        await _event_stream(websocket, topic or ["#"], snapshot=snapshot)


def _runs(request: Request) -> ScenarioRuns:
    runs = _web(request).runs
    if runs is None:
        raise ApiError(HTTPStatus.SERVICE_UNAVAILABLE, "not_connected", "this server does not run scenarios")
    return runs


def _faults(request: Request) -> FaultControl:
    control = _web(request).faults
    if control is None:
        detail = "this home runs without fault proxies: start it with `hyperhome up --faults`"
        raise ApiError(HTTPStatus.CONFLICT, "no_faults", detail)
    return control


def _flow_order(flow: FlowStatus) -> tuple[str, int]:
    number = flow.id.rsplit("-", 1)[-1]
    return (flow.started or "", int(number) if number.isdigit() else 0)


def _clock_out(clock: Clock) -> ClockOut:
    speed = getattr(clock, "speed", None)
    return ClockOut(mode=clock.mode, speed=float(speed) if speed is not None else None, now=clock.iso())


# -- the WebSocket ----------------------------------------------------------------------------------
async def _event_stream(websocket: WebSocket, filters: list[str], *, snapshot: bool) -> None:
    web: WebState | None = getattr(websocket.app.state, "web", None)
    await websocket.accept()
    if web is None:
        await websocket.close(code=status.WS_1013_TRY_AGAIN_LATER, reason="the API is starting or stopping")
        return
    try:
        absolute = {parse_filter(f, web.link.topics) for f in filters}
    except FilterError as exc:
        await websocket.send_json({"type": "error", "message": str(exc)})
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason="bad topic filter")
        return
    sub = Subscriber(frame_interval_s=web.settings.frame_interval_s)
    web.hub.add(sub, absolute)
    hello = _hello(web, sub, snapshot=snapshot)  # at the same instant: no gap, no overlap
    try:
        await web.hub.sync_streams()
        await websocket.send_json(hello)
        async with asyncio.TaskGroup() as tasks:
            reader = tasks.create_task(_read_controls(websocket, web, sub))
            writer = tasks.create_task(_write_events(websocket, web, sub))
            writer.add_done_callback(lambda _: reader.cancel())  # it stops when the client is too slow
    except* WebSocketDisconnect:
        pass
    finally:
        await web.hub.remove(sub)
    if sub.overflowed and websocket.application_state != WebSocketState.DISCONNECTED:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close(code=status.WS_1013_TRY_AGAIN_LATER, reason="too slow: reconnect")


def _hello(web: WebState, sub: Subscriber, *, snapshot: bool) -> dict[str, Any]:
    """The first message: the filters in force and, unless asked not to, what is known now."""
    base = f"{web.link.topics.base}/"
    hello: dict[str, Any] = {
        "type": "hello",
        "home": web.link.topics.home,
        "name": web.link.name or web.link.topics.home,
        "base": web.link.topics.base,
        "filters": sorted(f.removeprefix(base) for f in sub.filters),
    }
    if snapshot:
        hello["devices"] = [d.model_dump(mode="json") for d in _all_devices(web)]
        flows = (_flow_out(raw) for raw in web.ctl.flows.values())
        hello["flows"] = [f.model_dump(mode="json") for f in flows if f is not None]
        hello["orchestrator"] = web.orchestrator if web.bus_connected else None
        hello["bus"] = _bus(web)
        if web.link.clock is not None:
            hello["clock"] = _clock_out(web.link.clock).model_dump(mode="json")
    return hello


def _all_devices(web: WebState) -> list[DeviceOut]:
    live = web.bus_connected
    return [_device_out(v, live=live) for v in sorted(web.ctl.registry.devices.values(), key=lambda v: v.id)]


def _bus(web: WebState) -> str:
    return "connected" if web.bus_connected else "disconnected"


def _require_bus(web: WebState) -> None:
    """503 ``not_connected`` while the API's own connection is down (a command could not go out)."""
    if not web.bus_connected:
        msg = "the API's MQTT connection is down (reconnecting); try again shortly"
        raise ApiError(HTTPStatus.SERVICE_UNAVAILABLE, "not_connected", msg)


async def _read_controls(websocket: WebSocket, web: WebState, sub: Subscriber) -> None:
    """``{"subscribe": [...], "unsubscribe": [...]}`` from the client, until it disconnects."""
    while True:
        text = await websocket.receive_text()
        try:
            control = WsControl.model_validate(loads(text))
            add = {parse_filter(f, web.link.topics) for f in control.subscribe}
            drop = {parse_filter(f, web.link.topics) for f in control.unsubscribe}
        except (ValueError, FilterError) as exc:  # PayloadError, ValidationError
            sub.push(_json({"type": "error", "message": _short(exc)}))
            continue
        await web.hub.set_filters(sub, (sub.filters | add) - drop)
        base = f"{web.link.topics.base}/"
        sub.push(_json({"type": "filters", "filters": sorted(f.removeprefix(base) for f in sub.filters)}))


async def _write_events(websocket: WebSocket, web: WebState, sub: Subscriber) -> None:
    clock = web.link.clock
    loop = asyncio.get_running_loop()
    next_tick = loop.time()
    while not sub.overflowed:
        remaining = next_tick - loop.time()
        if remaining <= 0:
            next_tick = loop.time() + WS_TICK_S
            if clock is not None:
                await websocket.send_text(_json({"type": "tick", "now": clock.iso()}))
            continue
        for text in await sub.next_batch(remaining):
            await websocket.send_text(text)


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
    return str(exc)
