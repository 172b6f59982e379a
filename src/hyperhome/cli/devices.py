"""``hyperhome devices`` and ``hyperhome send``: the running home, from its credentials file."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from typing import Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from hyperhome.broker.client import Message
from hyperhome.broker.credentials import HomeCredentials
from hyperhome.broker.topics import ORCHESTRATOR
from hyperhome.broker.wire import PayloadError, Reply, loads
from hyperhome.cli.common import (
    CredsOpt,
    connected,
    console,
    default_credentials_path,
    fail,
    run_until_done,
    waiting_for,
)
from hyperhome.devices.catalog import KINDS
from hyperhome.errors import ConfigError, ConnectError, NotConnectedError
from hyperhome.orchestrator.controller import Controller
from hyperhome.orchestrator.registry import DeviceView, Registry


def devices(
    credentials: CredsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the home's devices with their availability and state."""
    creds_path = credentials or default_credentials_path()
    creds = HomeCredentials.load(creds_path)

    async def main() -> None:
        async with connected(creds, creds_path) as ctl:
            registry = await ctl.synced()
        views = sorted(registry.devices.values(), key=lambda v: v.id)
        if as_json:
            sys.stdout.write(json.dumps([v.as_dict() for v in views], indent=2) + "\n")
            return
        # readable at 80 columns: a device takes two lines, its kind under its id
        table = Table("device", "room", "", "at a glance (--json: everything)", box=box.SIMPLE_HEAD, pad_edge=False)
        table.title, table.title_justify = f"home {creds.home}", "left"
        for view in views:
            colour = "green" if view.online else "red"
            table.add_row(
                f"{escape(view.id)}\n[dim]{escape(view.kind or '?')}[/]",
                escape((view.meta.room if view.meta else None) or ""),
                f"[{colour}]{view.availability or '?'}[/]",
                escape(glance(view.kind, view.state or {})),
            )
        console.print(table)

    run_until_done(main(), interrupted=waiting_for(creds, creds_path))


def glance(kind: str | None, state: dict[str, Any]) -> str:
    """The few fields its kind names (``Device.summary``; else the first four), as ``key=value``."""
    known = KINDS.get(kind or "")
    names = (known.summary if known is not None else ()) or [k for k in state if k not in ("ts", "seq")][:4]
    shown = []
    for name in names:
        value: Any = state
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if name in state or value is not None:
            shown.append(f"{name}={_short(value)}")
    return " ".join(shown)


def _short(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= 24 else text[:23] + "…"


def send(
    device: Annotated[str, typer.Argument(help="Device id, e.g. living-ac")],
    command: Annotated[str, typer.Argument(help="Command name, e.g. set")],
    args: Annotated[str, typer.Argument(metavar="JSON", help="The args as a JSON object")] = "{}",
    credentials: CredsOpt = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the reply.")] = 10.0,
) -> None:
    """Send one command and print its reply; exit 1 on an error reply.

    A command that makes the device ask the orchestrator for something (the phone's ``tap``)
    also prints what the orchestrator made of it, and exits 1 if it refused.

    Without a connection to the broker (the home stopped, the broker restarting) the command is
    not sent and never will be: ``error: not_connected: ...``, exit 2 (docs/protocol.md,
    "Commands during an outage").
    """
    try:
        parsed = loads(args)  # as a device reads them: at most 32 levels deep, finite numbers
    except PayloadError as exc:
        msg = f"args are not JSON a device reads: {exc}"
        raise fail(msg) from None
    if not isinstance(parsed, dict):
        msg = "args must be a JSON object, e.g. '{\"target_c\": 24}'"
        raise fail(msg)
    creds_path = credentials or default_credentials_path()
    creds = HomeCredentials.load(creds_path)

    async def main() -> tuple[Reply, str | None]:
        async with _not_sent(device, command), connected(creds, creds_path) as ctl:
            view = _check_target(await ctl.synced(), creds.home, device)
            asks = view is not None and view.meta is not None and "intent" in view.meta.events
            intents = await IntentAnswers.watch(ctl, device) if asks else None
            try:
                reply = await ctl.request(device, command, parsed, timeout_s=timeout)
            except TimeoutError:
                msg = f"timeout: no reply from {device!r} within {timeout:g} s (is it online?)"
                raise fail(msg, 1) from None
            console.print_json(reply.to_payload().decode())
            intent = (reply.result or {}).get("intent") if reply.ok else None
            if intents is None or not isinstance(intent, str):
                return reply, None
            return reply, await intents.answer(intent, timeout)

    outcome = run_until_done(main(), interrupted=waiting_for(creds, creds_path))
    if outcome is None:
        raise typer.Exit(1)
    reply, started = outcome
    if not reply.ok:
        raise typer.Exit(1)
    if started is not None:
        console.print(started)


@contextlib.asynccontextmanager
async def _not_sent(device: str, command: str) -> AsyncIterator[None]:
    """No connection, or it was lost before the command was handed over: the one ``error:`` line
    says ``not_connected`` and that nothing was sent (nothing is queued to be sent later)."""
    try:
        yield
    except (ConnectError, NotConnectedError) as exc:
        msg = f"not_connected: {device} {command} was not sent: {exc}"
        raise fail(msg) from None


def _check_target(registry: Registry, home: str, device: str) -> DeviceView | None:
    """The device, if the home has it and it is online (the registry holds every device's
    retained ``$meta``); None for the orchestrator."""
    if device == ORCHESTRATOR:
        return None
    view = registry.devices.get(device)
    if view is None or view.meta is None:
        known = ", ".join(sorted(v.id for v in registry.devices.values() if v.meta is not None))
        msg = f"home {home!r} has no device {device!r} (its devices: {known or 'none'})"
        raise ConfigError(msg)
    if not view.online:
        msg = f"{device!r} is {view.availability or 'not online'}: it cannot answer now"
        raise fail(msg, 1)
    return view


class IntentAnswers:
    """What the orchestrator does with the intents one device publishes: it starts a flow of the
    intent's kind (``flow_started``) or refuses it with a reason (``intent_refused``)."""

    def __init__(self, device: str) -> None:
        self.device = device
        self._seen: list[tuple[str, dict[str, Any]]] = []
        self._changed = asyncio.Event()

    @classmethod
    async def watch(cls, ctl: Controller, device: str) -> IntentAnswers:
        """Start listening, before the command that makes the device publish its intent."""
        answers = cls(device)
        await ctl.bus.subscribe(ctl.topics.event(ORCHESTRATOR, "flow_started"), answers._on)
        await ctl.bus.subscribe(ctl.topics.event(ORCHESTRATOR, "intent_refused"), answers._on)
        return answers

    def _on(self, message: Message) -> None:
        with contextlib.suppress(ValueError):
            payload = message.json()
            if isinstance(payload, dict):
                self._seen.append((message.topic.rsplit("/", 1)[-1], payload))
                self._changed.set()

    async def answer(self, intent: str, timeout_s: float) -> str:
        """``intent 'precool' started flow f-1``; exit 1 with the reason if it was refused."""
        try:
            async with asyncio.timeout(timeout_s):
                while (found := self._find(intent)) is None:
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            msg = f"intent {intent!r}: no answer from the orchestrator within {timeout_s:g} s (is it running?)"
            raise fail(msg, 1) from None
        name, payload = found
        if name == "intent_refused":
            msg = f"intent {intent!r} refused: {payload.get('reason')}"
            raise fail(msg, 1)
        return f"intent {intent!r} started flow {payload.get('flow_id')}"

    def _find(self, intent: str) -> tuple[str, dict[str, Any]] | None:
        for name, payload in self._seen:
            if name == "flow_started" and payload.get("kind") == intent:
                return name, payload
            if name == "intent_refused" and (payload.get("device"), payload.get("intent")) == (self.device, intent):
                return name, payload
        return None
