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

The routes are one ``APIRouter`` per resource (``routes/``: home, devices, flows, scenarios,
faults, live events), each taking the app's state through ``Depends`` (``state.py``).

While the API's own MQTT connection is down it does not know whether devices are online: it
says so (``online: null``, ``bus: disconnected``) and ``GET /api/health`` answers 503.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from http import HTTPStatus

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from hyperhome import __version__
from hyperhome.broker.faults import FaultControl
from hyperhome.broker.topics import ORCHESTRATOR
from hyperhome.errors import CommandError, ErrorCode
from hyperhome.orchestrator.controller import Controller
from hyperhome.web.events import EventHub
from hyperhome.web.guard import guard
from hyperhome.web.models import ErrorBody
from hyperhome.web.redact import Redactor
from hyperhome.web.routes import devices, flows, home, live, scenarios
from hyperhome.web.routes import faults as link_faults
from hyperhome.web.runs import ScenarioRuns
from hyperhome.web.state import STATIC, ApiError, HomeLink, Settings, WebState

__all__ = ["ApiError", "HomeLink", "Settings", "create_app"]

STATUS_OF_CODE = {
    ErrorCode.BAD_REQUEST: HTTPStatus.BAD_REQUEST,
    ErrorCode.UNKNOWN_COMMAND: HTTPStatus.NOT_FOUND,
    ErrorCode.INVALID_ARGS: HTTPStatus.UNPROCESSABLE_ENTITY,
    ErrorCode.REJECTED: HTTPStatus.CONFLICT,
    ErrorCode.FORBIDDEN: HTTPStatus.FORBIDDEN,
    ErrorCode.INTERNAL: HTTPStatus.BAD_GATEWAY,
}
"""HTTP status for each wire error code of a reply (docs/protocol.md)."""


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
            ctl = Controller(link.connect, link.login, link.topics, clock=None)
            redactor = Redactor(ctl.registry)
            web = WebState(link, ctl, EventHub(ctl.bus, link.topics, redactor), redactor, runs, conf, faults=faults)
            # before the connect: the registry's own filter covers this topic at the broker, so a
            # subscription added once connected would not get the retained availability replayed
            await ctl.bus.subscribe(link.topics.availability(ORCHESTRATOR), web.on_orchestrator)
            await stack.enter_async_context(ctl)
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
    for router in (home.router, devices.router, flows.router, scenarios.router, link_faults.router, live.router):
        app.include_router(router)
    return app


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body.model_dump(mode="json"), status_code=exc.status_code)


async def _command_error(request: Request, exc: Exception) -> Response:
    """An error reply, with the HTTP status of its wire code."""
    assert isinstance(exc, CommandError)
    body = ErrorBody(detail=exc.message, code=exc.code.value, reply=exc.reply)
    return JSONResponse(body.model_dump(mode="json"), status_code=STATUS_OF_CODE.get(exc.code, HTTPStatus.BAD_GATEWAY))
