"""``WS /api/events``: the home's live messages, filtered by topic (docs/web.md)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect, status
from pydantic import ValidationError
from starlette.websockets import WebSocketState

from hyperhome.broker.wire import format_validation_error, loads
from hyperhome.web.events import FilterError, Subscriber, parse_filter
from hyperhome.web.models import WsControl
from hyperhome.web.state import WebState, all_devices, bus_state, clock_out

router = APIRouter()
WS_TICK_S = 1.0
"""A WebSocket gets the simulated time at least this often (the dashboard's clock and ETAs)."""


@router.websocket("/api/events")
async def events(
    websocket: WebSocket,
    topic: Annotated[list[str] | None, Query(max_length=32)] = None,
    snapshot: bool = True,
) -> None:
    """Live messages of the home as JSON, filtered by topic (see docs/web.md)."""
    await _event_stream(websocket, topic or ["#"], snapshot=snapshot)


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
        hello["devices"] = [d.model_dump(mode="json") for d in all_devices(web)]
        hello["flows"] = [f.model_dump(mode="json") for f in web.ctl.flows.values()]
        hello["orchestrator"] = web.orchestrator if web.bus_connected else None
        hello["bus"] = bus_state(web)
        if web.link.clock is not None:
            hello["clock"] = clock_out(web.link.clock).model_dump(mode="json")
    return hello


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
        return format_validation_error(exc, top="", first=True)
    return str(exc)
