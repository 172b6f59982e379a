"""Time control over MQTT: ``{root}/{home}/$clock/cmd/advance`` (docs/protocol.md, "Manual clock").

With a manual clock (``hyperhome up --clock manual``) the orchestrator answers
``$clock/cmd/advance`` ``{"id": ..., "args": {"by": "10m"}}`` on ``$clock/reply`` once the step is
done and the home is quiet: ``{"id", "command": "advance", "ok": true, "result": {"now": ts,
"steps": n}, "ts"}``, or ``ok: false`` with ``rejected`` when the home did not go quiet in time
(the message says what was still busy). The command goes through the one ``CommandEndpoint``
(a repeated id gets the first reply again and advances nothing). A controller login, or the
``integration`` login of the system under test, may publish it: ``+/cmd/#`` covers ``$clock``.

The handler only starts the advance in a task of its own: the advance waits for the home to be
quiet, which the barrier cannot prove while the handler that received the command is running.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hyperhome.broker.commands import CommandEndpoint
from hyperhome.broker.topics import CLOCK
from hyperhome.broker.wire import format_validation_error
from hyperhome.devices.clock import ClockBusyError, ManualClock
from hyperhome.durations import parse_duration
from hyperhome.errors import ClockError, CommandError, ErrorCode
from hyperhome.tasks import TaskOwner

if TYPE_CHECKING:
    from collections.abc import Mapping

    from hyperhome.broker.client import Message
    from hyperhome.orchestrator.service import CommandHandler, Orchestrator

log = logging.getLogger(__name__)

ADVANCE = "advance"
MAX_ADVANCE_S = 366 * 24 * 3600.0
"""The longest single advance: a year of simulated time."""


class AdvanceArgs(BaseModel):
    """``{"by": "10m"}``: a duration string or a number of seconds."""

    model_config = ConfigDict(extra="forbid")

    by: float = Field(ge=0, le=MAX_ADVANCE_S)

    @field_validator("by", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value)


def advance_result(clock: ManualClock, steps: int) -> dict[str, Any]:
    return {"now": clock.iso(), "steps": steps}


async def advance_by(clock: ManualClock, args: dict[str, Any]) -> dict[str, Any]:
    """Validate ``args`` and advance; CommandError with the wire's code on a refusal."""
    try:
        parsed = AdvanceArgs.model_validate(args)
    except ValidationError as exc:
        raise CommandError(ErrorCode.INVALID_ARGS, format_validation_error(exc)) from None
    try:
        done = await clock.advance(parsed.by)
    except ClockBusyError as exc:
        raise CommandError(ErrorCode.REJECTED, str(exc)) from None
    except ClockError as exc:
        raise CommandError(ErrorCode.INTERNAL, str(exc)) from None
    return advance_result(clock, done.steps)


class ClockCommands:
    """An orchestrator service: answers ``$clock/cmd/{name}`` with a manual clock."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self._tasks = TaskOwner("clock-commands", logger=log)
        self._endpoint: CommandEndpoint | None = None

    @property
    def commands(self) -> Mapping[str, CommandHandler]:
        return {}  # its commands are on $clock/cmd/#, not the orchestrator's own

    async def start(self, orchestrator: Orchestrator) -> None:
        topics = orchestrator.topics

        async def send(payload: bytes) -> None:
            await orchestrator.outbox.publish(topics.reply(CLOCK), payload)

        self._endpoint = CommandEndpoint(self._dispatch, send=send, now=self.clock.iso, owner="the clock")
        await self._tasks.open()
        await orchestrator.bus.subscribe(topics.cmd(CLOCK, "#"), self._on_command)

    async def stop(self) -> None:
        await self._tasks.aclose()

    async def on_event(self, device: str, name: str, payload: dict[str, Any]) -> None:
        return None

    def _on_command(self, message: Message) -> None:
        endpoint = self._endpoint
        if endpoint is None:
            return
        command = message.topic.rsplit("/cmd/", 1)[-1]
        self._tasks.spawn(
            endpoint.handle(command, message.payload),
            name=f"clock:{command}",
            failure=f"the clock's command {command!r} failed",
        )

    async def _dispatch(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        if name != ADVANCE:
            raise CommandError(ErrorCode.UNKNOWN_COMMAND, f"the clock has no command {name!r} (known: {ADVANCE})")
        return await advance_by(self.clock, args)
