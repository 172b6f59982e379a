"""The device runtime: everything every device does, once.

A device kind is a subclass that declares, as data:

- ``State``: a pydantic model of its whole state (published retained on ``state``);
- ``Config``: a pydantic model of its fixed parameters (physics constants, ...);
- its commands, as methods decorated with ``@command("name", ArgsModel)``;
- ``events`` it may publish, ``streams`` it can serve, ``capabilities``;
- optionally ``advance(now)``, which brings time-dependent state (physics) up to ``now``.

Command args are validated strictly, as the JSON they came as (``validate_args``), and ``$meta``
advertises each command's JSON Schema (``args_schema``): a payload the schema accepts is valid
args, and nothing else is (see ``Args``).

The base class owns the MQTT life cycle of the contract: the last will, ``$meta`` then ``state``
then ``$availability = online`` on every (re)connect, validation of a command's args, and
``$availability = offline`` on a clean stop. Commands come in through the one
``CommandEndpoint`` (broker/commands.py: decoding, duplicate ids, exactly one reply) and go to
the kind's handler. A handler refuses with ``CommandError(ErrorCode.REJECTED, message)`` (or
``FORBIDDEN``); a bad command never changes state: when a handler fails, ``state`` and the
kind's shadow state (the private attributes it names in ``shadow``) are restored as they were
before the command (``snapshot`` / ``restore``), and ``replan`` schedules the kind's timers
again from them.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, TypeAlias, TypeVar

import pydantic_core
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    PlainValidator,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import core_schema

from hyperhome.broker.client import Bus, Connector, Will
from hyperhome.broker.commands import CommandEndpoint
from hyperhome.broker.credentials import Login, client_id_of
from hyperhome.broker.topics import Topics, check_id
from hyperhome.broker.wire import OFFLINE, ONLINE, Meta, dumps, format_validation_error
from hyperhome.devices import miot as miot_spec
from hyperhome.errors import CommandError, ConfigError, ErrorCode, NotConnectedError
from hyperhome.tasks import TaskOwner

if TYPE_CHECKING:
    from types import TracebackType

    from hyperhome.devices.clock import Clock, TimerHandle

log = logging.getLogger(__name__)

SW_VERSION = "0.1.0"


JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


class Args(BaseModel):
    """Base of every command's args model; field docstrings document.

    A command's args are exactly what its JSON Schema (``args_schema``, in ``$meta``) accepts:
    validation is strict (``validate_args``): a string is never a number or a boolean, a number
    never a boolean, null only where the schema has it, no unknown keys, finite numbers only.
    So that the schema can say everything the model checks:

    - a key that may be left out but is never null is ``Omittable[X]`` (``X | None = None``
      would also accept null);
    - a rule across fields goes in a ``model_validator`` *and*, in JSON Schema words, in the
      model's ``json_schema_extra``;
    - a rule a pattern cannot state (a byte count, a calendar) is made one that it can.

    tests/devices/test_args_contract.py checks every command of every kind: a JSON Schema
    validator and ``validate_args`` agree on thousands of payloads.
    """

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, use_attribute_docstrings=True)


class NoArgs(Args):
    pass


T = TypeVar("T")


class _NotNull:
    """Validate ``X | None`` as ``X``: None stays the default of a key left out, never a value."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        schema = handler(source)
        return schema["schema"] if schema["type"] == "nullable" else schema


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


Omittable: TypeAlias = Annotated[T | None, _NotNull(), Field(json_schema_extra=_no_default)]
"""An arg that may be left out (then it is None) but is never null: ``power: Omittable[bool] = None``."""


SECRET = Field(json_schema_extra={"writeOnly": True})
"""Marks an args field as a secret: ``password: Annotated[str, SECRET]``. Its JSON Schema (and so
``$meta``) says ``writeOnly``, the keyword for a value that is sent but never read back, and
nothing that reads ``$meta`` shows it (docs/protocol.md, "Secrets"). A ``SecretStr`` field is
marked the same way by pydantic. A reply may carry a secret the device made itself only under
the name of such a field (the phone's generated hotspot ``password``)."""


def requires_one_of(*names: str) -> dict[str, Any]:
    """JSON Schema words for a model validator's "give at least one of these keys" (for Omittable keys)."""
    return {"anyOf": [{"required": [name]} for name in names]}


_MONTH_DAY = (
    "(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"  # 31 days
    "|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"  # 30 days
    "|02-(?:0[1-9]|1[0-9]|2[0-8]))"  # February, 29 in leap years only (below)
)
_YEAR = "(?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])"
_LEAP_YEAR = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
TIMESTAMP_PATTERN = (
    f"^(?:{_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)"
    "T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]+)?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
)
"""RFC 3339 date-times that exist: years 0001-9999, real calendar days, a ``Z`` or ``+hh:mm`` offset."""


def _timestamp(value: Any) -> datetime:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value
    if not isinstance(value, str) or re.fullmatch(TIMESTAMP_PATTERN, value) is None:
        msg = "a date-time such as 2026-06-01T18:30:00Z (RFC 3339, with Z or an offset)"
        raise ValueError(msg)
    return datetime.fromisoformat(value)


Timestamp = Annotated[
    datetime,
    PlainValidator(_timestamp),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": TIMESTAMP_PATTERN}),
]
"""A point in time as args carry it: an RFC 3339 string (``format: date-time`` is only an
annotation in JSON Schema, so the schema states it as a pattern)."""


class DeviceState(BaseModel):
    """Base of every kind's state: unknown keys are an error, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_attribute_docstrings=True)


class DeviceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


A = TypeVar("A", bound=Args)
D = TypeVar("D", bound="Device")
HandlerResult = dict[str, Any] | None
CommandHandler = Callable[[Any, Any], Awaitable[HandlerResult]]


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str
    args: type[Args]
    handler: CommandHandler
    doc: str


def command(
    name: str, args: type[A] | None = None
) -> Callable[
    [Callable[[D, A], Coroutine[Any, Any, HandlerResult]]], Callable[[D, A], Coroutine[Any, Any, HandlerResult]]
]:
    """Mark a method as the handler of command ``name`` whose args are ``args``."""

    def mark(
        fn: Callable[[D, A], Coroutine[Any, Any, HandlerResult]],
    ) -> Callable[[D, A], Coroutine[Any, Any, HandlerResult]]:
        fn.__hyperhome_command__ = (name, args or NoArgs)  # type: ignore[attr-defined]
        return fn

    return mark


class DeviceSpec(BaseModel):
    """One device as a home file describes it."""

    model_config = ConfigDict(extra="forbid")

    id: str
    kind: str
    name: str | None = None
    room: str | None = None
    owner: str | None = None
    state: dict[str, Any] = Field(default_factory=dict)
    config: dict[str, Any] = Field(default_factory=dict)


@functools.cache
def args_schema(args: type[Args]) -> dict[str, Any]:
    """The JSON Schema (Draft 2020-12) of a command's args: exactly what ``validate_args`` accepts.

    Built once per model (pydantic builds it anew on every call, and ``$meta`` is published on
    every connect of every device).
    """
    return {"$schema": JSON_SCHEMA_DIALECT, **args.model_json_schema()}


def validate_args(args: type[A], data: Mapping[str, Any]) -> A:
    """A command's decoded args as an ``args`` model, or ValidationError.

    Validated as the JSON they came as, in strict mode, after one step of JSON Schema's data
    model: a number whose fraction is zero is an integer (``1.0`` is ``1``), as a JSON Schema
    ``integer`` says.
    """
    return args.model_validate_json(json.dumps(_whole_numbers(data)), strict=True)


def _whole_numbers(value: Any) -> Any:
    if type(value) is float and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _whole_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(item) for item in value]
    return value


class PropertyRef(Args):
    siid: int = Field(ge=1, le=255)
    """The service instance id (``$meta.miot``)."""
    piid: int = Field(ge=1, le=255)
    """The property instance id within the service."""
    did: Omittable[str] = Field(None, max_length=64)
    """The caller's device id, echoed in the result (MIoT requests carry one)."""


class PropertyValue(PropertyRef):
    value: Any
    """The new value: an enum property takes the number of its option (``value-list``)."""


class GetPropertiesArgs(Args):
    params: list[PropertyRef] = Field(min_length=1, max_length=64)
    """The properties to read: ``[{"siid": 2, "piid": 1}]``."""


class SetPropertiesArgs(Args):
    params: list[PropertyValue] = Field(min_length=1, max_length=64)
    """The properties to write: ``[{"siid": 2, "piid": 1, "value": true}]``."""


class ActionArgs(Args):
    siid: int = Field(ge=1, le=255)
    """The service instance id."""
    aiid: int = Field(ge=1, le=255)
    """The action instance id within the service."""
    did: Omittable[str] = Field(None, max_length=64)
    """The caller's device id, echoed in the result."""
    in_: list[Any] = Field(default_factory=list, alias="in", max_length=16)
    """The action's arguments, in the order ``$meta.miot.actions.{command}.in`` lists them."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A device as it was before a command: its state and its shadow attributes (deep copies)."""

    state: DeviceState
    shadow: dict[str, Any]


class Device:
    """Base class of every simulated device; see the module docstring."""

    kind: ClassVar[str]
    State: ClassVar[type[DeviceState]]
    Config: ClassVar[type[DeviceConfig]] = DeviceConfig
    capabilities: ClassVar[tuple[str, ...]] = ()
    events: ClassVar[dict[str, str]] = {}
    streams: ClassVar[tuple[str, ...]] = ()
    miot: ClassVar[miot_spec.MiotDevice | None] = None
    """The kind's MIoT device type and standard services (``devices/miot.py``); None: a type
    named after the kind, one service holding everything."""
    switches: ClassVar[dict[str, tuple[str, str]]] = {}
    """Bool state fields written through a pair of commands without args (when true, when
    false), for the conventions that write state (``devices/writes.py``)."""
    summary: ClassVar[tuple[str, ...]] = ()
    """The few state fields that say how the device is at a glance (``hyperhome devices``), a
    dotted path into an object field (``wifi.ssid``); empty: the first four."""
    refresh_s: ClassVar[float | None] = None
    """Publish state every this many simulated seconds if it changed (for continuous physics)."""
    commands: ClassVar[dict[str, CommandSpec]] = {}
    shadow: ClassVar[tuple[str, ...]] = ()
    """Private attributes that hold state beside ``state`` (the precise level behind a rounded
    one, a password never published, ...): plain data, deep-copied before every command and put
    back with ``state`` when it fails. Timer handles are not shadow state: ``replan`` makes them
    again from the restored values."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found: dict[str, CommandSpec] = {}
        for klass in reversed(cls.__mro__):
            for attr in vars(klass).values():
                mark = getattr(attr, "__hyperhome_command__", None)
                if mark is not None:
                    name, args = mark
                    found[name] = CommandSpec(name, args, attr, (attr.__doc__ or "").strip())
        cls.commands = found

    def __init__(self, spec: DeviceSpec, *, home: str, clock: Clock, topics: Topics | None = None) -> None:
        self.id = check_id(spec.id, "device id")
        self.spec = spec
        self.home = home
        self.clock = clock
        self.topics = topics or Topics(home)
        self.name = spec.name or spec.id
        self.config, self.state = self.check_spec(spec)
        self.seq = 0
        self.bus: Bus | None = None
        self.endpoint = CommandEndpoint(self._dispatch, send=self._send_reply, now=clock.iso, owner=self.id)
        self._state_changed = False  # by the command being answered: its reply goes out after the new state
        self._last_published: dict[str, Any] | None = None
        self._timers: set[TimerHandle] = set()
        self._tasks = TaskOwner(spec.id, logger=log)
        self._last_advance: float | None = None

    @classmethod
    def check_spec(cls, spec: DeviceSpec) -> tuple[Any, Any]:
        """Validate a spec's config and initial state; ConfigError naming the device."""
        try:
            return cls.Config.model_validate(spec.config), cls.State.model_validate(spec.state)
        except ValidationError as exc:
            msg = f"device {spec.id!r} ({cls.kind}): {format_validation_error(exc)}"
            raise ConfigError(msg) from None

    # -- description -------------------------------------------------------------------------
    def meta(self) -> Meta:
        return Meta(
            id=self.id,
            home=self.home,
            kind=self.kind,
            name=self.name,
            room=self.spec.room,
            owner=self.spec.owner,
            sw_version=SW_VERSION,
            capabilities=list(self.capabilities),
            commands={name: args_schema(spec.args) for name, spec in self.commands.items()},
            streams=list(self.streams),
            events=list(self.events),
            miot=miot_spec.spec_of(type(self)).meta,
        )

    # -- life cycle --------------------------------------------------------------------------
    async def start(self, connect: Connector, login: Login) -> None:
        """Connect (through ``connect``), announce, and start the device's own timers."""
        self._last_advance = self.clock.now()
        if not self._tasks.is_open:
            await self._tasks.open()
        bus = connect(
            login,
            client_id=client_id_of(self.home, self.id),
            will=Will(self.topics.availability(self.id), OFFLINE.encode()),
            on_connect=self._announce,
        )
        await bus.subscribe(self.topics.cmd(self.id, "#"), self.endpoint.on_message)
        self.bus = bus
        await bus.__aenter__()
        if self.refresh_s:
            self.every(self.refresh_s, self.publish_state_if_changed)
        await self.on_start()

    async def stop(self) -> None:
        """Clean stop: ``$availability = offline``, nothing else cleared."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        await self._tasks.aclose()
        bus, self.bus = self.bus, None
        if bus is not None:
            with contextlib.suppress(NotConnectedError):
                await bus.publish(self.topics.availability(self.id), OFFLINE, retain=True)
            await bus.__aexit__(None, None, None)

    async def __aenter__(self) -> Device:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def on_start(self) -> None:
        """Hook: schedule the kind's own timers. Called once after the first connect."""

    async def _announce(self) -> None:
        bus = self.bus
        if bus is None:
            return
        self._advance()
        await bus.publish(self.topics.meta(self.id), self.meta().to_payload(), retain=True)
        await bus.publish(self.topics.state(self.id), self._state_payload(), retain=True)
        await bus.publish(self.topics.availability(self.id), ONLINE, retain=True)

    # -- time ----------------------------------------------------------------------------------
    def advance(self, now: float, elapsed_s: float) -> None:
        """Hook: bring time-dependent state from ``now - elapsed_s`` up to ``now``."""

    def _advance(self) -> None:
        now = self.clock.now()
        last = self._last_advance if self._last_advance is not None else now
        if now > last:
            self.advance(now, now - last)
        self._last_advance = now

    def every(self, period_s: float, action: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``action`` every ``period_s`` simulated seconds, aligned to multiples of the period.

        A passive timer: it never makes virtual time move by itself.
        """

        current: list[TimerHandle] = []

        def schedule() -> None:
            when = (math.floor(self.clock.now() / period_s) + 1) * period_s
            current.append(self.clock.call_at(when, fire))
            self._timers.add(current[-1])

        def fire() -> None:
            self._timers.discard(current.pop())
            self.spawn(action())
            schedule()

        schedule()

    def at(self, when: float, action: Callable[[], Coroutine[Any, Any, None]]) -> TimerHandle:
        """Run ``action`` once at simulated time ``when`` (passive); cancel with the returned handle."""
        handle: TimerHandle

        def fire() -> None:
            self._timers.discard(handle)
            self.spawn(action())

        handle = self.clock.call_at(when, fire)
        self._timers.add(handle)
        return handle

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[None] | None:
        """Start a task owned by this device (cancelled on stop, errors logged; None once stopped)."""
        return self._tasks.spawn(coro)

    # -- publishing ----------------------------------------------------------------------------
    def _state_payload(self) -> bytes:
        self.seq += 1
        body = self.state.model_dump(mode="json")
        self._last_published = body
        # pydantic's serializer: the same compact JSON as wire.dumps (numbers may differ only in
        # exponent spelling, 1e-7 for 1e-07), about 4x faster on the hottest path a device has
        return pydantic_core.to_json({**body, "ts": self.clock.iso(), "seq": self.seq})

    async def publish_state(self) -> None:
        self._advance()
        await self._publish(self.topics.state(self.id), self._state_payload(), retain=True)

    async def publish_state_if_changed(self) -> None:
        self._advance()
        if self.state.model_dump(mode="json") != self._last_published:
            await self._publish(self.topics.state(self.id), self._state_payload(), retain=True)

    async def emit(self, event: str, **fields: Any) -> None:
        """Publish ``event/{event}`` with ``ts`` and the fields."""
        if event not in self.events:
            msg = f"{self.kind} declares no event {event!r}"
            raise ConfigError(msg)
        payload = {"ts": self.clock.iso(), **{k: _jsonable(v) for k, v in fields.items()}}
        await self._publish(self.topics.event(self.id, event), dumps(payload))

    async def _publish(self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False) -> None:
        """Hand the message to the connection and go on: a device never holds its handler (and so
        its connection's next message) for the broker's PUBACK. Its state is retained and
        republished after every reconnect; a reply lost with the connection is asked for again
        by its sender (the orchestrator's ``resend``, docs/protocol.md)."""
        bus = self.bus
        if bus is None:
            return
        try:
            bus.publish_nowait(topic, payload, qos=qos, retain=retain)
        except NotConnectedError:
            log.debug("%s: offline, not publishing %s (republished on reconnect)", self.id, topic)

    # -- commands ------------------------------------------------------------------------------
    async def _dispatch(self, name: str, args: dict[str, Any]) -> HandlerResult:
        """What the command endpoint calls: find the handler, validate the args, run it."""
        spec = self.commands.get(name)
        if spec is None:
            known = ", ".join(sorted(self.commands))
            msg = f"{self.kind} has no command {name!r} (known: {known})"
            raise CommandError(ErrorCode.UNKNOWN_COMMAND, msg)
        try:
            parsed = validate_args(spec.args, args)
        except ValidationError as exc:
            raise CommandError(ErrorCode.INVALID_ARGS, format_validation_error(exc)) from None
        return await self._execute(spec, parsed)

    async def _execute(self, spec: CommandSpec, args: Args) -> dict[str, Any]:
        """Run a handler; a refused or failed command leaves the device as it was (unless ``keep_state``)."""
        self._advance()
        before = self.snapshot()
        try:
            result = await spec.handler(self, args)
        except CommandError as exc:
            if not exc.keep_state:
                self.restore(before)
            self._state_changed = self.state != before.state
            raise
        except (ValidationError, ValueError) as exc:
            self.restore(before)
            reason = format_validation_error(exc) if isinstance(exc, ValidationError) else str(exc)
            raise CommandError(ErrorCode.INVALID_ARGS, reason) from None
        except BaseException:
            self.restore(before)
            raise
        self._state_changed = self.state != before.state
        return result or {}

    # -- MIoT (devices/miot.py) ---------------------------------------------------------------
    @command("get_properties", GetPropertiesArgs)
    async def get_properties(self, args: GetPropertiesArgs) -> dict[str, Any]:
        """MIoT: read properties by ``siid``/``piid``; ``results`` holds ``{siid, piid, code, value}`` each
        (code 0, or -4003 for no such property)."""
        self._advance()
        return {"results": miot_spec.get_properties(self, [p.model_dump() for p in args.params], SW_VERSION)}

    @command("set_properties", SetPropertiesArgs)
    async def set_properties(self, args: SetPropertiesArgs) -> dict[str, Any]:
        """MIoT: write properties by ``siid``/``piid``, each through the device's own command for it;
        ``results`` holds ``{siid, piid, code}`` each (0, -4002 read-only, -4003 none, -4005 bad
        value, -4004 refused, with a ``message``)."""
        params = [p.model_dump() for p in args.params]
        return {"results": await miot_spec.set_properties(self, params, self._dispatch)}

    @command("action", ActionArgs)
    async def action(self, args: ActionArgs) -> dict[str, Any]:
        """MIoT: run the command behind ``siid``/``aiid`` with ``in`` as its args in order; replies
        ``{siid, aiid, code, out, result}`` (code 0, -4003 no such action, -4006 bad in, -4004 refused)."""
        item = args.model_dump(include={"siid", "aiid", "did"})
        return await miot_spec.action(self, item, list(args.in_), self._dispatch)

    def snapshot(self) -> Snapshot:
        """The device as it is now, for ``restore``: ``state`` and the ``shadow`` attributes."""
        return Snapshot(
            self.state.model_copy(deep=True), {name: copy.deepcopy(getattr(self, name)) for name in self.shadow}
        )

    def restore(self, snapshot: Snapshot) -> None:
        """Put the device back as ``snapshot`` has it (a failed command), then ``replan``."""
        self.state = snapshot.state
        for name, value in snapshot.shadow.items():
            setattr(self, name, value)
        self.replan()

    def replan(self) -> None:
        """Hook: after ``restore``, (re)schedule the kind's timers from its state and shadow state."""

    async def _send_reply(self, payload: bytes) -> None:
        if self._state_changed:
            self._state_changed = False
            # the state, then the reply, back to back on the one connection, so a client that has
            # the reply has the new state. Only if changed: a hook of the command may have
            # published it already (a phone's lease count)
            await self.publish_state_if_changed()
        await self._publish(self.topics.reply(self.id), payload)


def _jsonable(value: Any) -> Any:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value
