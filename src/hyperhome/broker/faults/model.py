"""What a user asks of a link, and what a link is doing: one model for scenario steps and the web API."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, model_validator

from hyperhome.broker.topics import ID_PATTERN
from hyperhome.durations import DURATION_PATTERN, format_duration, parse_duration

MAX_LATENCY_S = 60.0
"""Longest latency a link may be given (longer is a partition, or a stall)."""
MAX_PARTITION_S = 86_400.0

_Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    Field(json_schema_extra={"type": ["string", "number"], "pattern": DURATION_PATTERN}),
]
FAULT_ACTIONS = ("latency", "stall", "drop", "partition", "clear")


class LinkFault(BaseModel):
    """Set one device's link: exactly one of ``latency``, ``stall``, ``drop``, ``partition``, ``clear``.

    Durations are the home's simulated time (``300ms``, ``1s``, ``20s``), as everywhere in a scenario.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"oneOf": [{"required": ["device", a]} for a in FAULT_ACTIONS]},
    )

    device: str = Field(pattern=ID_PATTERN, description="The device whose link to the broker this sets.")
    latency: _Duration | None = Field(
        default=None, le=MAX_LATENCY_S, description="Delay of every message, each way (0 for none)."
    )
    stall: bool | None = Field(
        default=None,
        description="true: nothing goes through, the connection stays up (bytes held); false: forward again.",
    )
    drop: Literal[True] | None = Field(default=None, description="Reset the connection now; the device reconnects.")
    partition: _Duration | None = Field(
        default=None,
        gt=0,
        le=MAX_PARTITION_S,
        description="Cut the link and refuse connections this long, then heal it.",
    )
    clear: Literal[True] | None = Field(
        default=None, description="Back to a plain link: no latency, stall or partition."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> LinkFault:
        given = [a for a in FAULT_ACTIONS if getattr(self, a) is not None]
        if len(given) != 1:
            msg = f"give exactly one of {', '.join(FAULT_ACTIONS)} (got {', '.join(given) or 'none'})"
            raise ValueError(msg)
        return self

    @property
    def action(self) -> str:
        return next(a for a in FAULT_ACTIONS if getattr(self, a) is not None)

    def describe(self) -> dict[str, Any]:
        """The change as a trace entry shows it: ``{"latency_s": 0.3}``, ``{"stall": true}``, ..."""
        if self.latency is not None:
            return {"latency_s": self.latency}
        if self.partition is not None:
            return {"partition_s": self.partition}
        return {self.action: getattr(self, self.action)}


MAX_AFTER_S = 86_400.0
BROKER_DOWN_S = 0.2
"""How long (wall seconds) a scripted broker restart keeps the broker down in real or scaled time."""


class BrokerFault(BaseModel):
    """Restart the home's own broker ``after`` simulated seconds from the step (0: now).

    Only a broker HyperHome runs (embedded or managed Mosquitto) can be restarted; see
    docs/scenarios.md ("Broker restarts") for what it means in virtual and real time.
    """

    model_config = ConfigDict(extra="forbid")

    broker: Literal["restart"] = Field(
        description="What to do to the home's broker (restart: down, then back on its port)."
    )
    after: _Duration = Field(
        default=0.0, ge=0, le=MAX_AFTER_S, description="Simulated time from the step until the restart (0: now)."
    )

    @property
    def action(self) -> str:
        return self.broker

    def describe(self) -> dict[str, Any]:
        """The step as a trace entry shows it: ``{"after_s": 5.0}``."""
        return {"after_s": self.after}


class LinkStatus(BaseModel):
    """One device's link as it is now."""

    device: str
    port: int = Field(description="Where the device's fault proxy listens on 127.0.0.1.")
    latency_s: float = Field(description="Delay of every message, each way, in simulated seconds.")
    stalled: bool
    partitioned: bool
    heals_at: str | None = Field(description="When a partition heals (simulated time, ISO 8601), or null.")
    connections: int = Field(description="Connections open through the proxy now.")
    drops: int = Field(description="Connections the proxy has reset (drop, partition) so far.")
    held_bytes: int = Field(description="Bytes the proxy holds right now (a stall in real time).")


class FaultControl(Protocol):
    """The fault proxies of a running home (``hyperhome up --faults``), as the web API uses them."""

    def links(self) -> list[LinkStatus]: ...

    def link(self, device: str) -> LinkStatus | None: ...

    async def apply(self, fault: LinkFault) -> LinkStatus: ...
