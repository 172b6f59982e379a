"""Wire envelopes of the contract (docs/protocol.md) as pydantic models, in one place.

Devices, the orchestrator, the CLI and tests build and read payloads only through these, so a
change to the wire format is a change here and in docs/protocol.md.

Every payload HyperHome decodes goes through ``loads`` (``Message.json``, ``decode_command``,
``decode``): UTF-8 JSON of at most ``MAX_PAYLOAD_BYTES``, nested at most ``MAX_DEPTH`` deep,
finite numbers only; anything else is a ``PayloadError`` (a ``ValueError``) with a reason.
"""

from __future__ import annotations

import json
import math
import re
from enum import StrEnum
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hyperhome.errors import ErrorCode as ErrorCode  # the codes live with CommandError, the error carrying them

PROTOCOL_VERSION = 1
ONLINE = "online"
OFFLINE = "offline"
MAX_PAYLOAD_BYTES = 256 * 1024
"""Largest payload HyperHome decodes (docs/protocol.md, "Transport"); the largest ``$meta`` is under 8 KiB."""
MAX_DEPTH = 32
"""Deepest nesting of objects and arrays in a payload HyperHome decodes (a flat object is 1 deep)."""
MAX_ID_CHARS = 128

_STRUCTURE = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
"""Strings (skipped whole, escapes included) and brackets: enough to measure nesting."""
_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}:,]|[^\s"\[\]{}:,]+', re.DOTALL)
"""Every JSON token, scalars included: enough to find a top-level key and its value."""
_OPEN, _CLOSE = frozenset(b"[{"), frozenset(b"]}")
_AS_PARENS = bytes.maketrans(b"[{]}", b"(())")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class PayloadError(ValueError):
    """A payload HyperHome does not decode, with the reason; ``command_id`` is the id a command's
    top level shows (``{"id": "c-1", ...``), when it shows one, however bad the rest is."""

    def __init__(self, reason: str, *, command_id: str | None = None) -> None:
        super().__init__(reason)
        self.command_id = command_id


M = TypeVar("M", bound=BaseModel)


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
    miot: dict[str, Any] | None = None
    """The device's Mi Home (MIoT) description: its ``urn:miot-spec-v2:device:...`` type and the
    siid/piid of each state field, siid/aiid of each command, siid/eiid of each event."""

    def secret_keys(self, command: str) -> frozenset[str] | None:
        """The keys of ``command``'s args that are secrets (``writeOnly``); None for a command not described."""
        schema = self.commands.get(command)
        return None if schema is None else secret_keys(schema)


class Command(WireModel):
    """A command as sent on ``cmd/{command}``: ``{"id": ..., "args": {...}}``."""

    id: str | None = Field(default=None, max_length=MAX_ID_CHARS)
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
    """A flow's ``state``: ``pending`` -> ``running`` -> one of the terminal three."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        """Whether the flow ended (it never changes state again)."""
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset({FlowState.SUCCEEDED, FlowState.FAILED, FlowState.CANCELLED})
"""The states a flow ends in."""

StepState = Literal["running", "done", "failed"]


class FlowStep(BaseModel):
    """One named step of a flow, in its status; fields a later orchestrator adds pass through."""

    model_config = ConfigDict(extra="allow")

    name: str
    state: StepState = "running"
    ts: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class FlowStatus(BaseModel):
    """A flow's retained status on ``$orchestrator/flow/{id}`` (docs/protocol.md, docs/flows.md).

    The orchestrator builds it, controllers parse it with ``decode``; fields a later orchestrator
    adds pass through. ``to_payload`` writes the keys in this order, compact (``dumps``).
    """

    model_config = ConfigDict(extra="allow")

    id: str
    kind: str
    state: FlowState
    args: dict[str, Any] = Field(default_factory=dict)
    user: str | None = None
    steps: list[FlowStep] = Field(default_factory=list)
    started: str | None = None
    ended: str | None = None
    error: str | None = None
    result: dict[str, Any] | None = None

    def to_payload(self) -> bytes:
        return dumps(self.model_dump(mode="json"))


class OrchestratorMeta(WireModel):
    """Retained description of the orchestrator (``$orchestrator/$meta``): what it runs."""

    model_config = ConfigDict(extra="allow")

    protocol: int = PROTOCOL_VERSION
    id: str = "$orchestrator"
    home: str
    flows: list[str] = Field(default_factory=list)
    """The flow kinds it starts on ``cmd/{kind}``, sorted."""
    commands: list[str] = Field(default_factory=list)
    """Its other commands (``flow.cancel``, ``automation.*``, ``voice.parse``), sorted."""


def error_field(loc: tuple[int | str, ...], *, prefix: str = "", top: str = "args") -> str:
    """Where a pydantic error is, dotted (``devices.2.kind``); ``top`` when it is the whole input."""
    return ".".join(str(p) for p in (prefix, *loc) if p != "") or top


def format_validation_error(exc: ValidationError, *, prefix: str = "", top: str = "args", first: bool = False) -> str:
    """The one way HyperHome says what a validation refused: ``field: message; ...``.

    Without input values (they may be secrets). ``prefix`` goes before every field, ``top`` names
    the whole input; with ``top=""`` an error about the whole input is just its message.
    ``first``: only the first error.
    """
    errors = exc.errors(include_url=False)
    parts = []
    for err in errors[:1] if first else errors:
        where = error_field(tuple(err["loc"]), prefix=prefix, top=top)
        parts.append(f"{where}: {err['msg']}" if where else str(err["msg"]))
    return "; ".join(parts)


def loads(payload: bytes | str) -> Any:
    """The JSON value of ``payload``, within the limits of the contract; else ``PayloadError``.

    Size and nesting are checked before anything is parsed, so no payload makes the parser
    recurse deeper than ``MAX_DEPTH`` or hold more than ``MAX_PAYLOAD_BYTES``. ``NaN``,
    ``Infinity`` and numbers too large for a double (``1e400``) are refused: they are not finite.
    """
    data = payload.encode() if isinstance(payload, str) else payload
    if len(data) > MAX_PAYLOAD_BYTES:
        msg = f"payload is {len(data)} bytes, more than the {MAX_PAYLOAD_BYTES} a payload may have"
        raise PayloadError(msg)
    if _deeper_than(data, MAX_DEPTH):
        msg = f"payload is nested deeper than {MAX_DEPTH} levels"
        raise PayloadError(msg)
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_not_finite, parse_float=_finite)
    except PayloadError:
        raise
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"payload is not JSON: {exc}"
        raise PayloadError(msg) from None
    except ValueError as exc:  # an integer of more digits than Python converts (sys.get_int_max_str_digits)
        msg = f"payload is not JSON HyperHome reads: {exc}"
        raise PayloadError(msg) from None


def decode(model: type[M], payload: bytes) -> M:
    """``payload`` read with ``loads`` and validated as ``model`` (ValueError either way)."""
    return model.model_validate(loads(payload))


def decode_command(payload: bytes) -> Command:
    """Parse a command payload per the contract; ``PayloadError`` with a readable reason if it is bad.

    A JSON object holding neither ``id`` nor ``args`` is taken whole as the args, so
    ``mosquitto_pub -m '{"target_c": 24}'`` works. An empty payload means no args. The error
    carries the command's ``id`` whenever it could be read, so the refusal can name it.
    """
    if not payload.strip():
        return Command()
    try:
        data = loads(payload)
    except PayloadError as exc:
        raise PayloadError(str(exc), command_id=_top_level_id(payload)) from None
    if not isinstance(data, dict):
        msg = f"payload must be a JSON object, not {type(data).__name__}"
        raise PayloadError(msg)
    if "id" not in data and "args" not in data:
        data = {"args": data}
    raw_id = data.get("id")
    if raw_id is not None and (isinstance(raw_id, bool) or not isinstance(raw_id, str | int)):
        msg = "'id' must be a string"
        raise PayloadError(msg)
    if raw_id is not None and len(str(raw_id)) > MAX_ID_CHARS:
        msg = f"'id' is longer than {MAX_ID_CHARS} characters"
        raise PayloadError(msg)
    cmd_id = _command_id(raw_id)
    if "args" in data and not isinstance(data["args"], dict):
        msg = "'args' must be a JSON object"
        raise PayloadError(msg, command_id=cmd_id)
    extra = set(data) - {"id", "args"}
    if extra:
        msg = f"unexpected keys beside 'id' and 'args': {sorted(extra)}"
        raise PayloadError(msg, command_id=cmd_id)
    return Command(id=cmd_id, args=data.get("args") or {})


def _command_id(value: Any) -> str | None:
    """A command id as the contract reads it (a JSON number as its decimal string); None if it is not one."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value)
    return text if len(text) <= MAX_ID_CHARS else None


def _not_finite(constant: str) -> Any:
    msg = f"payload is not JSON: {constant} is not a JSON number"
    raise PayloadError(msg)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        msg = f"payload has a number out of range: {text[:40]}"
        raise PayloadError(msg)
    return value


def _deeper_than(payload: bytes, limit: int) -> bool:
    """Whether objects and arrays nest deeper than ``limit`` (brackets inside strings do not count)."""
    if payload.count(b"[") + payload.count(b"{") <= limit:  # the common case, at C speed
        return False
    # Also at C speed, for a large payload (a $meta, a big state): the brackets outside strings
    # (with the escapes gone, every other quote opens a string), each pass removing every
    # innermost pair; balanced, the passes needed are the depth. Exact for JSON; for a payload
    # that is not JSON, it may leave the refusal to the parser instead of the depth
    unescaped = payload.replace(b"\\\\", b"").replace(b'\\"', b"")
    nest = b"".join(unescaped.split(b'"')[::2]).translate(_AS_PARENS, _NOT_BRACKETS)
    for _ in range(limit):
        nest = nest.replace(b"()", b"")
        if not nest:
            return False
    return _walk_deeper_than(payload, limit)  # deeper, or unbalanced (not JSON): the exact walk


def _walk_deeper_than(payload: bytes, limit: int) -> bool:
    depth = 0
    for token in _STRUCTURE.finditer(payload):
        first = token[0][0]
        if first in _OPEN:
            depth += 1
            if depth > limit:
                return True
        elif first in _CLOSE:
            depth -= 1
    return False


def _top_level_id(payload: bytes) -> str | None:
    """The ``id`` a payload's top-level object shows, read token by token without parsing the rest.

    For a refusal to name the command it refuses when the whole cannot be decoded (too deep, too
    large: only the first ``MAX_PAYLOAD_BYTES`` are read, not JSON further on).
    """
    depth = 0
    last: list[bytes] = []  # the tokens since the last ',' or '{' at the top level
    for token in _TOKENS.finditer(payload, 0, MAX_PAYLOAD_BYTES):
        text = token[0]
        if text[0] in _OPEN:
            if depth == 0 and text != b"{":
                return None
            depth += 1
            last.clear()
        elif text[0] in _CLOSE:
            depth -= 1
            if depth <= 0:
                return None
        elif depth == 1:
            if text == b",":
                last.clear()
                continue
            last.append(text)
            if len(last) == 3 and last[0] == b'"id"' and last[1] == b":":
                try:
                    return _command_id(json.loads(last[2]))
                except ValueError:
                    return None
    return None


def secret_keys(schema: Any) -> frozenset[str]:
    """The property names a JSON Schema marks ``writeOnly`` (a secret: sent, never read back).

    Anywhere in the schema: a property's own schema, the branches of its ``anyOf`` (an optional
    field), nested objects and ``$defs``. A name secret in one place is a secret everywhere.
    """
    found: set[str] = set()
    pending = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        properties = node.get("properties")
        if isinstance(properties, dict):
            found.update(name for name, sub in properties.items() if _write_only(sub))
        pending.extend(node.values())
    return frozenset(found)


def _write_only(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return False
    if schema.get("writeOnly") is True:
        return True
    return any(_write_only(branch) for key in ("anyOf", "oneOf", "allOf") for branch in schema.get(key) or ())


def dumps(data: Any) -> bytes:
    """Compact JSON, the one way payloads are serialised."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
