"""Wire envelopes of the contract (docs/protocol.md) as pydantic models, in one place.

Devices, the orchestrator, the CLI and tests build and read payloads only through these, so a
change to the wire format is a change here and in docs/protocol.md.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hyperhome.errors import ErrorCode as ErrorCode  # the codes live with CommandError, the error carrying them

PROTOCOL_VERSION = 1
ONLINE = "online"
OFFLINE = "offline"


class WireModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def to_payload(self) -> bytes:
        return self.model_dump_json(exclude_none=False).encode()


class Meta(WireModel):
    """Retained description of a device (``$meta``)."""

    model_config = ConfigDict(extra="allow")

    protocol: int = PROTOCOL_VERSION
    id: str
    home: str
    kind: str
    name: str
    room: str | None = None
    owner: str | None = None
    sw_version: str
    capabilities: list[str] = Field(default_factory=list)
    commands: dict[str, dict[str, Any]] = Field(default_factory=dict)
    streams: list[str] = Field(default_factory=list)
    events: list[str] = Field(default_factory=list)


class Command(WireModel):
    """A command as sent on ``cmd/{command}``: ``{"id": ..., "args": {...}}``."""

    id: str | None = Field(default=None, max_length=128)
    args: dict[str, Any] = Field(default_factory=dict)


class ErrorInfo(WireModel):
    code: ErrorCode
    message: str


class Reply(WireModel):
    """Exactly one per command, on ``reply``."""

    id: str | None
    command: str
    ok: bool
    result: dict[str, Any] | None = None
    error: ErrorInfo | None = None
    ts: str

    @classmethod
    def answer(
        cls,
        command_id: str | None,
        command: str,
        ts: str,
        *,
        result: dict[str, Any] | None = None,
        error: tuple[ErrorCode, str] | None = None,
    ) -> Reply:
        """The reply to a command: its result, or an error with a code and a readable message."""
        return cls(
            id=command_id,
            command=command,
            ok=error is None,
            result=result if error is None else None,
            error=ErrorInfo(code=error[0], message=error[1]) if error else None,
            ts=ts,
        )

    def to_payload(self) -> bytes:
        data = {"id": self.id, **self.model_dump(mode="json", exclude_none=True)}
        return dumps(data)


class Frame(WireModel):
    """Metadata of one media frame on ``stream/{stream}`` (no pixels)."""

    stream: str
    source: str
    seq: int
    ts: str
    width: int
    height: int
    fps: float
    codec: Literal["synthetic"] = "synthetic"


class FlowState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


def decode_command(payload: bytes) -> Command:
    """Parse a command payload per the contract; ValueError with a readable reason if it is bad.

    A JSON object holding neither ``id`` nor ``args`` is taken whole as the args, so
    ``mosquitto_pub -m '{"target_c": 24}'`` works. An empty payload means no args.
    """
    if not payload.strip():
        return Command()
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"payload is not JSON: {exc}"
        raise ValueError(msg) from None
    if not isinstance(data, dict):
        msg = f"payload must be a JSON object, not {type(data).__name__}"
        raise ValueError(msg)
    if "id" not in data and "args" not in data:
        data = {"args": data}
    cmd_id = data.get("id")
    if cmd_id is not None and not isinstance(cmd_id, str | int):
        msg = "'id' must be a string"
        raise ValueError(msg)
    if "args" in data and not isinstance(data["args"], dict):
        msg = "'args' must be a JSON object"
        raise ValueError(msg)
    if cmd_id is not None and len(str(cmd_id)) > 128:
        msg = "'id' is longer than 128 characters"
        raise ValueError(msg)
    extra = set(data) - {"id", "args"}
    if extra:
        msg = f"unexpected keys beside 'id' and 'args': {sorted(extra)}"
        raise ValueError(msg)
    return Command(id=None if cmd_id is None else str(cmd_id), args=data.get("args") or {})


def dumps(data: Any) -> bytes:
    """Compact JSON, the one way payloads are serialised."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
