"""``/api/flows``: the flows the orchestrator published; start one, cancel one."""

from __future__ import annotations

import contextlib
from http import HTTPStatus

from fastapi import APIRouter, Response

from hyperhome.broker.topics import ORCHESTRATOR
from hyperhome.broker.wire import ONLINE
from hyperhome.errors import CommandError
from hyperhome.orchestrator.controller import ended
from hyperhome.web.guard import WireJsonRoute
from hyperhome.web.models import FlowStarted, FlowStatus
from hyperhome.web.state import (
    ApiError,
    Args,
    Linked,
    Web,
    check_name,
    errors_doc,
    flow_order,
    missing,
    request_command,
    require_bus,
)  # fmt: skip

router = APIRouter(tags=["flows"], route_class=WireJsonRoute)  # bodies read by wire.loads (guard.py)


@router.get("/api/flows", response_model=list[FlowStatus])
async def flows(web: Web) -> list[FlowStatus]:
    """Every flow status the orchestrator published (retained), newest first."""
    return sorted(web.ctl.flows.values(), key=flow_order, reverse=True)


@router.post(
    "/api/flows/{kind}",
    response_model=FlowStarted,
    status_code=HTTPStatus.CREATED,
    responses=errors_doc(403, 404, 409, 422, 503, 504),
)
async def start_flow(web: Linked, response: Response, kind: str, args: Args = None) -> FlowStarted:
    """Ask the orchestrator to start a flow (docs/flows.md); its id and first status."""
    check_name(kind, "flow")
    if kind == "flow.cancel":
        missing("flow", kind, "cancel a flow with DELETE /api/flows/{id}")
    require_bus(web)
    if web.orchestrator != ONLINE:
        raise ApiError(HTTPStatus.SERVICE_UNAVAILABLE, "offline", f"the orchestrator is {web.orchestrator}")
    reply = await request_command(web, ORCHESTRATOR, kind, args or {})
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
        first = await web.ctl.wait_flow(flow_id, lambda _: True, timeout_s=web.settings.reply_timeout_s)
    return FlowStarted(flow_id=flow_id, reply=reply, status=first)


@router.get("/api/flows/{flow_id}", response_model=FlowStatus, responses=errors_doc(404))
async def flow(web: Web, flow_id: str) -> FlowStatus:
    """A flow's status: state, steps, result or error."""
    found = web.ctl.flows.get(flow_id)
    if found is None:
        missing("flow", flow_id)
    return found


@router.delete("/api/flows/{flow_id}", response_model=FlowStatus, responses=errors_doc(404, 409, 503, 504))
async def cancel_flow(web: Linked, flow_id: str) -> FlowStatus:
    """Cancel a running flow; its status once it ended (its clean-up done)."""
    if flow_id not in web.ctl.flows:
        missing("flow", flow_id)
    reply = await request_command(web, ORCHESTRATOR, "flow.cancel", {"flow_id": flow_id})
    if not reply.ok:
        raise CommandError.from_reply(reply)
    try:
        return await web.ctl.wait_flow(flow_id, ended, timeout_s=web.settings.flow_end_timeout_s)
    except TimeoutError:
        msg = f"{flow_id} was cancelled but did not end within {web.settings.flow_end_timeout_s:g} s"
        raise ApiError(HTTPStatus.GATEWAY_TIMEOUT, "timeout", msg) from None
