"""``/api/devices``: every device as the API knows it, and its commands."""

from __future__ import annotations

from http import HTTPStatus

from fastapi import APIRouter

from hyperhome.broker.wire import Reply
from hyperhome.errors import CommandError
from hyperhome.web.guard import WireJsonRoute
from hyperhome.web.models import DeviceOut
from hyperhome.web.state import (
    ApiError,
    Args,
    Linked,
    Web,
    all_devices,
    device_out,
    errors_doc,
    missing,
    request_command,
    require_bus,
)  # fmt: skip

router = APIRouter(tags=["devices"], route_class=WireJsonRoute)  # bodies read by wire.loads (guard.py)


@router.get("/api/devices", response_model=list[DeviceOut])
async def devices(web: Web) -> list[DeviceOut]:
    """Every device with its `$meta`, state and availability, by id."""
    return all_devices(web)


@router.get("/api/devices/{device_id}", response_model=DeviceOut, responses=errors_doc(404))
async def device(web: Web, device_id: str) -> DeviceOut:
    """One device with its `$meta`, state and availability."""
    view = web.ctl.registry.get(device_id)
    if view is None:
        missing("device", device_id)
    return device_out(view, live=web.bus_connected)


@router.post(
    "/api/devices/{device_id}/commands/{command}",
    response_model=Reply,
    responses=errors_doc(400, 403, 404, 409, 422, 502, 503, 504),
)
async def send_command(web: Linked, device_id: str, command: str, args: Args = None) -> Reply:
    """Send a command and answer with the device's reply (an error reply gives its HTTP status)."""
    view = web.ctl.registry.get(device_id)
    if view is None or view.meta is None:
        missing("device", device_id)
    if command not in view.meta.commands:
        known = ", ".join(sorted(view.meta.commands))
        missing("command", command, f"{device_id} has no command {command!r} (commands: {known})")
    require_bus(web)
    if not view.online:
        raise ApiError(HTTPStatus.SERVICE_UNAVAILABLE, "offline", f"{device_id} is {view.availability}")
    reply = await request_command(web, device_id, command, args or {})
    if not reply.ok:
        raise CommandError.from_reply(reply)
    return reply.model_copy(update={"result": web.redactor.result(device_id, command, reply.result)})
