"""What every route of the web API shares: the app's state, its dependencies (``Depends``), its
errors and the conversions to the response models. See app.py for the whole picture."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

from fastapi import Body, Depends, Request

from hyperhome.broker.faults import FaultControl
from hyperhome.broker.topics import NAME_PATTERN, Topics
from hyperhome.broker.wire import Reply
from hyperhome.errors import BusError
from hyperhome.orchestrator.controller import Controller
from hyperhome.web.events import EventHub
from hyperhome.web.models import ClockOut, DeviceOut, ErrorBody, FlowStatus
from hyperhome.web.redact import Redactor
from hyperhome.web.runs import ScenarioRuns

if TYPE_CHECKING:
    from hyperhome.broker.client import Connector, Message
    from hyperhome.broker.credentials import Login
    from hyperhome.devices.clock import Clock
    from hyperhome.orchestrator.registry import DeviceView

log = logging.getLogger(__name__)

STATIC = "static"
NAME_RE = re.compile(NAME_PATTERN)
"""Command and flow names (broker/topics.py ``check_name``)."""


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


def errors_doc(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody} for code in codes}


def web_state(request: Request) -> WebState:
    web: WebState | None = getattr(request.app.state, "web", None)
    if web is None:
        raise ApiError(HTTPStatus.SERVICE_UNAVAILABLE, "not_connected", "the API is starting or stopping")
    return web


def linked(request: Request) -> WebState:
    """For a route that sends a command: without the API's own connection to the broker, 503
    ``not_connected`` at once. Nothing is queued (docs/protocol.md, "Commands during an outage"),
    and the registry may be out of date meanwhile, so this is checked before anything it says."""
    web = web_state(request)
    if not web.ctl.bus.connected:
        detail = "the API has no connection to the broker now; the command was not sent (send it again later)"
        raise ApiError(HTTPStatus.SERVICE_UNAVAILABLE, "not_connected", detail)
    return web


# -- conversions --------------------------------------------------------------------------------------
def device_out(view: DeviceView, *, live: bool = True) -> DeviceOut:
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


def missing(what: str, name: str, detail: str | None = None) -> NoReturn:
    """404 with code ``unknown_{what}``."""
    raise ApiError(HTTPStatus.NOT_FOUND, f"unknown_{what}", detail or f"no {what} {name!r}")


async def request_command(web: WebState, device: str, command: str, args: dict[str, Any]) -> Reply:
    """Send a command through the controller; 504 without a reply, 503 without a broker."""
    try:
        return await web.ctl.request(device, command, args, timeout_s=web.settings.reply_timeout_s)
    except TimeoutError:
        msg = f"no reply from {device} to {command} within {web.settings.reply_timeout_s:g} s"
        raise ApiError(HTTPStatus.GATEWAY_TIMEOUT, "timeout", msg) from None
    except BusError as exc:
        msg = f"the command was not sent: {exc}"
        raise ApiError(HTTPStatus.SERVICE_UNAVAILABLE, "not_connected", msg) from None


def check_name(value: str, what: str) -> str:
    if not NAME_RE.fullmatch(value):
        missing(what, value)
    return value


Args = Annotated[dict[str, Any] | None, Body(description="The args, a JSON object (empty or absent: none).")]


def runs_of(request: Request) -> ScenarioRuns:
    runs = web_state(request).runs
    if runs is None:
        raise ApiError(HTTPStatus.SERVICE_UNAVAILABLE, "not_connected", "this server does not run scenarios")
    return runs


def faults_of(request: Request) -> FaultControl:
    control = web_state(request).faults
    if control is None:
        detail = "this home runs without fault proxies: start it with `hyperhome up --faults`"
        raise ApiError(HTTPStatus.CONFLICT, "no_faults", detail)
    return control


def flow_order(flow: FlowStatus) -> tuple[str, int]:
    number = flow.id.rsplit("-", 1)[-1]
    return (flow.started or "", int(number) if number.isdigit() else 0)


def clock_out(clock: Clock) -> ClockOut:
    speed = getattr(clock, "speed", None)
    return ClockOut(mode=clock.mode, speed=float(speed) if speed is not None else None, now=clock.iso())


def all_devices(web: WebState) -> list[DeviceOut]:
    live = web.bus_connected
    return [device_out(v, live=live) for v in sorted(web.ctl.registry.devices.values(), key=lambda v: v.id)]


def bus_state(web: WebState) -> str:
    return "connected" if web.bus_connected else "disconnected"


def require_bus(web: WebState) -> None:
    """503 ``not_connected`` while the API's own connection is down (a command could not go out)."""
    if not web.bus_connected:
        msg = "the API's MQTT connection is down (reconnecting); try again shortly"
        raise ApiError(HTTPStatus.SERVICE_UNAVAILABLE, "not_connected", msg)


Web = Annotated[WebState, Depends(web_state)]
"""The app's state, for a route that reads what the API knows."""
Linked = Annotated[WebState, Depends(linked)]
"""The app's state, for a route that sends a command: 503 ``not_connected`` at once without a link."""
Runs = Annotated[ScenarioRuns, Depends(runs_of)]
Faults = Annotated[FaultControl, Depends(faults_of)]
