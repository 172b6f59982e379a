"""The fuzz run: bad payloads to every command of every device and of the orchestrator.

A running demo home (virtual time, so no physics moves while it runs) gets ``payloads`` bad
command payloads, drawn with hypothesis from a fixed seed (``SEED``), so every run sends the
same ones. Each class below is a share of them, spread over every (target, command) pair:

- ``schema``: args drawn from the command's JSON Schema (the ``$meta`` one for a device, the
  args model's for the orchestrator), mutated from those, or arbitrary, and each expanded into
  its single mutations (``strategies.py``, shared with the args-contract property tests): wrong
  types, keys missing and unknown, huge numbers, near misses of every range and pattern; only
  those the command's own validation refuses are kept. Sent as ``{"id", "args"}`` or as bare args;
- ``envelope``: an ``id`` that is not a string or is too long, ``args`` that is not an object,
  keys beside ``id`` and ``args``;
- ``not_json`` (cut short, single quotes, trailing commas, two objects), ``invalid_utf8`` (bytes
  that are no UTF-8), ``other_encoding`` (a command in UTF-16 or UTF-32, or UTF-8 carrying
  surrogates: JSON text may come so, the contract's UTF-8 does not),
  ``non_object`` (arrays, strings, numbers, ``null``), ``nan`` (``NaN``/``Infinity`` text);
- ``nested``: 1,000 levels of nesting and more; ``large``: an arg of 64 to 256 KiB;
- ``unknown_command``: a well-formed command on a ``cmd/`` name the target does not have.

Each payload is followed on the same connection by a *fence*, a command the target does not
know with an id of its own; the target answers in order, so the replies that came between a
payload and its fence's reply are all the replies that payload will ever get. Per payload:
exactly one reply, ``ok: false``, the payload's ``id`` (a ``bad_request`` has ``null``: the
contract trusts no id of a payload that is not a command), the contract's error code for its
class, and nothing published by the target between the payload and its fence (no state, event,
flow status). After the run the state of every device (its model and ``seq``), the retained
states, the flows and the automation rules are compared with before.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from pydantic import BaseModel, ValidationError

from hyperhome.bench.reliability.rows import Row
from hyperhome.bench.reliability.strategies import Json, payloads, variants, wire
from hyperhome.bench.report import BenchError, Progress, quiet
from hyperhome.broker.client import Message
from hyperhome.broker.launch import BrokerChoice
from hyperhome.broker.topics import ORCHESTRATOR
from hyperhome.broker.wire import dumps
from hyperhome.devices.base import args_schema, validate_args
from hyperhome.devices.catalog import KINDS as DEVICE_KINDS
from hyperhome.errors import ErrorCode
from hyperhome.home.homefile import HomeFile, load_home
from hyperhome.home.runtime import Home
from hyperhome.orchestrator.automations import Automations
from hyperhome.orchestrator.automations.engine import AddArgs, NoArgs, RuleRef
from hyperhome.orchestrator.controller import Controller
from hyperhome.orchestrator.flows import KINDS as FLOW_KINDS
from hyperhome.orchestrator.service import CANCEL, CancelArgs
from hyperhome.orchestrator.voice import ParseArgs

SEED = 20260612
PAYLOADS = 15_000
"""Full size: well over the issue's 10,000, about 160 per command of the demo home."""
FENCE = "$fence"
"""The command name of the fence: no device or orchestrator has it (command names are words)."""
FENCE_S = 10.0
"""Wall seconds a target has to answer a fence; one that does not is taken as stopped."""
DEPTHS = (1_000, 2_000, 10_000, 50_000)
LARGE_KIB = (64, 128, 256)
BARE_SHARE = 0.2
"""Of the ``schema`` payloads, how many go as bare args (no ``id``: the reply's is ``null``)."""

SERVICE_ARGS: dict[str, type[BaseModel]] = {
    "automation.list": NoArgs,
    "automation.add": AddArgs,
    "automation.remove": RuleRef,
    "automation.enable": RuleRef,
    "automation.disable": RuleRef,
    "automation.why": RuleRef,
    "voice.parse": ParseArgs,
}
"""The args model of each command of the orchestrator's services (they publish no schema)."""


class PayloadClass(StrEnum):
    SCHEMA = "schema"
    ENVELOPE = "envelope"
    NOT_JSON = "not_json"
    INVALID_UTF8 = "invalid_utf8"
    OTHER_ENCODING = "other_encoding"
    NON_OBJECT = "non_object"
    NAN = "nan"
    NESTED = "nested"
    LARGE = "large"
    UNKNOWN_COMMAND = "unknown_command"


SHARES: dict[PayloadClass, int] = {
    PayloadClass.SCHEMA: 70,
    PayloadClass.ENVELOPE: 6,
    PayloadClass.NOT_JSON: 4,
    PayloadClass.INVALID_UTF8: 4,
    PayloadClass.OTHER_ENCODING: 2,
    PayloadClass.NON_OBJECT: 4,
    PayloadClass.NAN: 4,
    PayloadClass.NESTED: 2,
    PayloadClass.LARGE: 1,
    PayloadClass.UNKNOWN_COMMAND: 3,
}
"""Percent of the payloads in each class."""

BAD = ErrorCode.BAD_REQUEST
EXPECTED: dict[PayloadClass, frozenset[ErrorCode]] = {
    PayloadClass.SCHEMA: frozenset({ErrorCode.INVALID_ARGS}),
    PayloadClass.ENVELOPE: frozenset({BAD}),
    PayloadClass.NOT_JSON: frozenset({BAD}),
    PayloadClass.INVALID_UTF8: frozenset({BAD}),
    PayloadClass.OTHER_ENCODING: frozenset({BAD}),
    PayloadClass.NON_OBJECT: frozenset({BAD}),
    PayloadClass.NAN: frozenset({BAD, ErrorCode.INVALID_ARGS}),  # not JSON; or, read, not a finite number
    PayloadClass.NESTED: frozenset({BAD}),
    PayloadClass.LARGE: frozenset({BAD, ErrorCode.INVALID_ARGS}),
    PayloadClass.UNKNOWN_COMMAND: frozenset({ErrorCode.UNKNOWN_COMMAND}),
}
"""The error codes the contract (docs/protocol.md, "Commands and replies") gives each class."""


# -- the commands ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """One command of one target: its JSON Schema, and whether its own validation accepts args."""

    target: str
    command: str
    schema: dict[str, Any]
    accepts: Callable[[Mapping[str, Any]], bool]
    siblings: frozenset[str]
    """Every command name the target has."""


def _device_accepts(model: Any) -> Callable[[Mapping[str, Any]], bool]:
    def accepts(args: Mapping[str, Any]) -> bool:
        try:
            validate_args(model, args)
        except (ValidationError, ValueError):
            return False
        return True

    return accepts


def _model_accepts(model: type[BaseModel]) -> Callable[[Mapping[str, Any]], bool]:
    def accepts(args: Mapping[str, Any]) -> bool:
        try:
            model.model_validate(dict(args))
        except (ValidationError, ValueError):
            return False
        return True

    return accepts


def orchestrator_args() -> dict[str, type[BaseModel]]:
    """The args model of every command the orchestrator answers: its flows, ``flow.cancel``, its services'."""
    models: dict[str, type[BaseModel]] = {kind: cls.Args for kind, cls in FLOW_KINDS.items()}
    return {**models, CANCEL: CancelArgs, **SERVICE_ARGS}


def commands_of(plan: HomeFile) -> list[Target]:
    """Every command of every device of ``plan`` and of its orchestrator."""
    out: list[Target] = []
    for spec in plan.devices:
        commands = DEVICE_KINDS[spec.kind].commands
        for name, command in sorted(commands.items()):
            schema, accepts = args_schema(command.args), _device_accepts(command.args)
            out.append(Target(spec.id, name, schema, accepts, frozenset(commands)))
    models = orchestrator_args()
    for name, model in sorted(models.items()):
        out.append(Target(ORCHESTRATOR, name, model.model_json_schema(), _model_accepts(model), frozenset(models)))
    return out


# -- the payloads ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One payload for one command topic, and what the contract says it gets."""

    kind: PayloadClass
    target: str
    command: str
    payload: bytes
    command_id: str | None
    """The payload's id, which its reply must carry (a ``bad_request`` may say ``null``); ``None``:
    the payload has none, and the reply's id is ``null``."""


def _crc(*parts: str) -> int:
    return zlib.crc32("\x00".join(parts).encode())


def _drawn(schema: dict[str, Any], seed: int, count: int) -> list[dict[str, Json]]:
    """``count`` args drawn by hypothesis from ``schema`` with ``seed``: the same every run."""
    drawn: list[dict[str, Json]] = []

    @hypothesis_seed(seed)
    @settings(
        max_examples=count,
        derandomize=False,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(payloads(schema))
    def draw(args: dict[str, Json]) -> None:
        drawn.append(args)

    draw()
    return drawn


def invalid_args(target: Target, seed: int, wanted: int) -> list[dict[str, Json]]:
    """At least ``wanted`` distinct args that ``target`` refuses (fewer if its schema has few),
    the same for the same arguments (remembered: drawing costs milliseconds an example)."""
    key = (target.target, target.command, seed, wanted)
    if key not in _POOLS:
        _POOLS[key] = _invalid_args(target, seed, wanted)
    return _POOLS[key]


_POOLS: dict[tuple[str, str, int, int], list[dict[str, Json]]] = {}


def _invalid_args(target: Target, seed: int, wanted: int) -> list[dict[str, Json]]:
    pool: dict[str, dict[str, Json]] = {}
    draws = max(2, wanted // 16)
    for attempt in range(4):
        for example in _drawn(target.schema, seed + attempt, draws):
            for variant in variants(target.schema, example):
                args = wire(variant)
                key = json.dumps(args, sort_keys=True)
                if isinstance(args, dict) and key not in pool and not target.accepts(args):
                    pool[key] = args
            if len(pool) >= 2 * wanted:
                return list(pool.values())
        if len(pool) >= wanted:
            break
        draws *= 2
    if not pool:
        pool["{}"] = {"hyperhome-fuzz": True}  # a key no command has: every schema refuses unknown keys
    return list(pool.values())


def _budget(payloads_total: int, kinds: frozenset[PayloadClass]) -> dict[PayloadClass, int]:
    """How many payloads of each class: ``SHARES`` scaled to the classes asked for."""
    shares = {k: v for k, v in SHARES.items() if k in kinds}
    total = sum(shares.values())
    budget = {k: payloads_total * v // total for k, v in shares.items()}
    order = sorted(shares, key=lambda k: -shares[k])
    for n in range(payloads_total - sum(budget.values())):
        budget[order[n % len(order)]] += 1
    return budget


def make_cases(
    plan: HomeFile,
    payloads_total: int = PAYLOADS,
    seed: int = SEED,
    kinds: frozenset[PayloadClass] | None = None,
) -> list[Case]:
    """The run's payloads, deterministic for one ``seed`` (hypothesis and ``random.Random``)."""
    kinds = kinds if kinds is not None else frozenset(PayloadClass)
    targets = commands_of(plan)
    budget = _budget(payloads_total, kinds)
    per_command = -(-budget.get(PayloadClass.SCHEMA, 0) // len(targets))
    pools = {(t.target, t.command): invalid_args(t, seed + _crc(t.target, t.command), per_command) for t in targets}
    rng = random.Random(seed)
    ids = iter(range(1, 10**9))
    cases: list[Case] = []
    for kind, count in budget.items():
        maker = _MAKERS[kind]
        order = list(targets)
        rng.shuffle(order)
        for n in range(count):
            target = order[n % len(order)]
            pool = pools[(target.target, target.command)]
            index = n // len(order) if kind is PayloadClass.SCHEMA else n  # the pool's next, or the class's next form
            cases.append(maker(target, pool, index, rng, f"fz-{next(ids)}"))
    rng.shuffle(cases)
    return cases


def _envelope(command_id: str | None, args: Any, **more: Any) -> bytes:
    body: dict[str, Any] = {} if command_id is None else {"id": command_id}
    return dumps({**body, "args": args, **more})


def _carried(payload: bytes, cid: str) -> str | None:
    """``cid`` if the payload carries it as its id: the reply must then say it, unless it is a
    ``bad_request`` (the contract trusts no id of a payload that is not a command)."""
    return cid if f'"id":"{cid}"'.encode() in payload or f'"id": "{cid}"'.encode() in payload else None


def _schema_case(target: Target, pool: list[dict[str, Json]], n: int, rng: random.Random, cid: str) -> Case:
    args = pool[n % len(pool)] if n < len(pool) else rng.choice(pool)
    bare = rng.random() < BARE_SHARE and "id" not in args and "args" not in args
    if bare:
        return Case(PayloadClass.SCHEMA, target.target, target.command, dumps(args), None)
    return Case(PayloadClass.SCHEMA, target.target, target.command, _envelope(cid, args), cid)


def _envelope_case(target: Target, pool: list[dict[str, Json]], n: int, rng: random.Random, cid: str) -> Case:
    forms: list[bytes] = [
        dumps({"id": rng.choice([[], {}, [cid], 1.5, -0.5, {"id": cid}]), "args": {}}),
        dumps({"id": "x" * rng.choice([129, 1000, 70_000]), "args": {}}),
        dumps({"id": cid, "args": rng.choice([[], [{}], "{}", 1, -1.5, True, None])}),
        dumps({"id": cid, "args": {}, rng.choice(["ID", "Id", "arg", "x", "", "id "]): rng.choice([1, None, {}])}),
        dumps({"args": {}, "command": target.command}),
    ]
    payload = forms[n % len(forms)]
    return Case(PayloadClass.ENVELOPE, target.target, target.command, payload, _carried(payload, cid))


def _not_json_case(target: Target, pool: list[dict[str, Json]], n: int, rng: random.Random, cid: str) -> Case:
    whole = _envelope(cid, rng.choice(pool)).decode()
    forms = [
        whole[: rng.randrange(1, len(whole))],
        whole.replace('"', "'"),
        whole[:-2] + ",}}",
        whole + whole,
        whole.replace(f'"{cid}"', cid),
        "{" + whole,
        rng.choice(["hello", "undefined", "{]", "[}", "{/* */}", "\\", "--", "{'id': 1}"]),
    ]
    text = forms[n % len(forms)]
    with contextlib.suppress(ValueError):
        json.loads(text)
        text = text + "}"  # a cut that happened to parse (a number cut short is still one)
    return Case(PayloadClass.NOT_JSON, target.target, target.command, text.encode(), _carried(text.encode(), cid))


_BAD_BYTES = (b"\xff", b"\xfe\xff", b"\xc0\xaf", b"\xf8\x88\x80\x80\x80", b"\x80", b"\xc3\x28", b"\xe2\x82")
"""No UTF-8 at all: a byte that never occurs, an overlong form, a five-byte form, a lone
continuation byte, a lead byte without its continuation, a sequence cut short."""
_SURROGATES = ("\ud800", "\udfff", "\udbff\udc00")


def _invalid_utf8_case(target: Target, pool: list[dict[str, Json]], n: int, rng: random.Random, cid: str) -> Case:
    bad = _BAD_BYTES[n % len(_BAD_BYTES)]
    whole = _envelope(cid, {"text": "@"})
    payload = whole.replace(b"@", bad) if n % 2 else bad + whole
    return Case(PayloadClass.INVALID_UTF8, target.target, target.command, payload, cid)


def _encoding_case(target: Target, pool: list[dict[str, Json]], n: int, rng: random.Random, cid: str) -> Case:
    text = _envelope(cid, rng.choice(pool)).decode()
    encoding = ("utf-16", "utf-16-le", "utf-16-be", "utf-32", "surrogates")[n % 5]
    if encoding == "surrogates":  # UTF-8 in form, but of code points UTF-8 never encodes (CESU-8)
        surrogate = _SURROGATES[n % len(_SURROGATES)]
        payload = _envelope(cid, {"text": "@"}).decode().replace("@", surrogate).encode("utf-8", "surrogatepass")
    else:
        payload = text.encode(encoding)
    return Case(PayloadClass.OTHER_ENCODING, target.target, target.command, payload, cid)


_NON_OBJECTS: list[Json] = [[], [1, 2], "text", "", 42, -1.5, 0, True, False, None, [{}], [[]], "{}"]


def _non_object_case(target: Target, pool: list[dict[str, Json]], n: int, rng: random.Random, cid: str) -> Case:
    value = [{"id": cid, "args": {}}] if n % 5 == 4 else rng.choice(_NON_OBJECTS)
    payload = json.dumps(value).encode()
    return Case(PayloadClass.NON_OBJECT, target.target, target.command, payload, _carried(payload, cid))


def _nan_case(target: Target, pool: list[dict[str, Json]], n: int, rng: random.Random, cid: str) -> Case:
    props = sorted(target.schema.get("properties", {})) or ["x"]
    args = {rng.choice(props): rng.choice([float("nan"), float("inf"), float("-inf")])}
    if rng.random() < 0.5:
        args = {**rng.choice(pool), **args}
    payload = json.dumps({"id": cid, "args": args}).encode()  # Python writes NaN and Infinity
    return Case(PayloadClass.NAN, target.target, target.command, payload, cid)


def _nested_case(target: Target, pool: list[dict[str, Json]], n: int, rng: random.Random, cid: str) -> Case:
    depth = DEPTHS[n % len(DEPTHS)]
    forms = [
        f'{{"id":"{cid}","args":{{"x":' + "[" * depth + "]" * depth + "}}",
        "[" * depth + "]" * depth,
        '{"a":' * depth + "1" + "}" * depth,
    ]
    payload = forms[(n // len(DEPTHS)) % len(forms)].encode()
    return Case(PayloadClass.NESTED, target.target, target.command, payload, _carried(payload, cid))


def _large_case(target: Target, pool: list[dict[str, Json]], n: int, rng: random.Random, cid: str) -> Case:
    size = LARGE_KIB[n % len(LARGE_KIB)] * 1024
    props = sorted(target.schema.get("properties", {})) or ["x"]
    args = {**rng.choice(pool), "hyperhome-fuzz-" + rng.choice(props): "x" * size}
    return Case(PayloadClass.LARGE, target.target, target.command, _envelope(cid, args), cid)


def _unknown_case(target: Target, pool: list[dict[str, Json]], n: int, rng: random.Random, cid: str) -> Case:
    name = target.command
    names = [name + ".x", name.upper(), "x" + name, name + "/x", name.replace(".", "/") + "/", name + "_", "-"]
    unknown = [x for x in names if x not in target.siblings]
    return Case(PayloadClass.UNKNOWN_COMMAND, target.target, unknown[n % len(unknown)], _envelope(cid, {}), cid)


_MAKERS: dict[PayloadClass, Callable[[Target, list[dict[str, Json]], int, random.Random, str], Case]] = {
    PayloadClass.SCHEMA: _schema_case,
    PayloadClass.ENVELOPE: _envelope_case,
    PayloadClass.NOT_JSON: _not_json_case,
    PayloadClass.INVALID_UTF8: _invalid_utf8_case,
    PayloadClass.OTHER_ENCODING: _encoding_case,
    PayloadClass.NON_OBJECT: _non_object_case,
    PayloadClass.NAN: _nan_case,
    PayloadClass.NESTED: _nested_case,
    PayloadClass.LARGE: _large_case,
    PayloadClass.UNKNOWN_COMMAND: _unknown_case,
}


# -- the run ---------------------------------------------------------------------------------------
class Verdict(StrEnum):
    REFUSED = "refused"
    """One reply, ``ok: false``, the right id, nothing published: as the contract says."""
    NO_REPLY = "no_reply"
    DUPLICATED = "duplicated"
    ACCEPTED = "accepted"
    WRONG_ID = "wrong_id"
    NOT_SENT = "not_sent"
    """Its target had stopped answering before its turn."""


@dataclass
class Outcome:
    """What one payload got: its replies and what its target published meanwhile."""

    case: Case
    replies: list[dict[str, Any]] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    sent: bool = True

    @property
    def code(self) -> str | None:
        if len(self.replies) != 1:
            return None
        error = self.replies[0].get("error")
        return str(error.get("code")) if isinstance(error, dict) else None

    @property
    def verdict(self) -> Verdict:
        if not self.sent:
            return Verdict.NOT_SENT
        if not self.replies:
            return Verdict.NO_REPLY
        if len(self.replies) > 1:
            return Verdict.DUPLICATED
        reply = self.replies[0]
        if reply.get("ok") is not False:
            return Verdict.ACCEPTED
        reply_id = reply.get("id")
        if reply_id != self.case.command_id and not (reply_id is None and self.code == BAD):
            return Verdict.WRONG_ID
        return Verdict.REFUSED

    @property
    def right_code(self) -> bool:
        return self.code in EXPECTED[self.case.kind]


class _Watch:
    """Routes what the home publishes to the payload in flight at its publisher."""

    def __init__(self, home: Home) -> None:
        self.topics = home.topics
        self.current: dict[str, Outcome] = {}
        self.fences: dict[str, asyncio.Future[None]] = {}
        self.stray_replies: list[str] = []
        self.stray_changes: list[str] = []

    def filters(self) -> list[str]:
        kinds = ("reply", "state", "event", "$meta", "$availability", "stream", "flow")
        return [self.topics.all_of(kind) for kind in kinds]

    def fence(self, fence_id: str) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.fences[fence_id] = future
        return future

    def on_message(self, message: Message) -> None:
        ref = self.topics.parse(message.topic)
        if ref is None or message.retain:
            return
        outcome = self.current.get(ref.device)
        if ref.kind != "reply":
            if outcome is None:
                self.stray_changes.append(message.topic)
            else:
                outcome.changes.append(message.topic)
            return
        try:
            reply = message.json()
        except ValueError:
            reply = {"unreadable": message.text}
        reply = reply if isinstance(reply, dict) else {"unreadable": message.text}
        waiter = self.fences.pop(str(reply.get("id")), None)
        if waiter is not None:
            if not waiter.done():
                waiter.set_result(None)
        elif outcome is None:
            self.stray_replies.append(f"{ref.device}: {message.text[:200]}")
        else:
            outcome.replies.append(reply)


async def fuzz(
    choice: BrokerChoice,
    *,
    payloads: int = PAYLOADS,
    seed: int = SEED,
    kinds: frozenset[PayloadClass] | None = None,
    progress: Progress = quiet,
) -> Row:
    """Send ``payloads`` bad payloads (``make_cases``) to a running demo home on ``choice``."""
    plan = load_home("demo")
    cases = make_cases(plan, payloads, seed, kinds)
    progress(f"fuzz on {choice.describe()}: {len(cases):,} payloads to {len(commands_of(plan))} commands")
    async with Home(plan, broker=choice) as home, home.controller(in_sim_time=False) as ctl:
        await ctl.synced()
        watch = _Watch(home)
        for topic_filter in watch.filters():
            await ctl.bus.subscribe(topic_filter, watch.on_message)
        await ctl.synced()
        before = _snapshot(home, ctl)
        by_target: dict[str, list[Case]] = {}
        for case in cases:
            by_target.setdefault(case.target, []).append(case)
        outcomes: list[Outcome] = []
        stopped: dict[str, str] = {}
        started = time.perf_counter()
        with _counting_errors() as logged:
            await asyncio.gather(*(_send(ctl, watch, t, cs, outcomes, stopped) for t, cs in by_target.items()))
            await ctl.synced()
        seconds = time.perf_counter() - started
        after = _snapshot(home, ctl)
    changed = sorted(t for t in before if before[t] != after[t])
    return _row(outcomes, watch, changed, stopped, logged, seconds, seed)


async def _send(
    ctl: Controller, watch: _Watch, target: str, cases: list[Case], outcomes: list[Outcome], stopped: dict[str, str]
) -> None:
    """One target's payloads, one at a time, each followed by its fence."""
    for n, case in enumerate(cases):
        outcome = Outcome(case)
        outcomes.append(outcome)
        fence_id = f"fence-{target}-{n}"
        answered = watch.fence(fence_id)
        watch.current[target] = outcome
        try:
            await ctl.bus.publish(ctl.topics.cmd(target, case.command), case.payload)
            await ctl.bus.publish(ctl.topics.cmd(target, FENCE), dumps({"id": fence_id}))
            async with asyncio.timeout(FENCE_S):
                await answered
        except TimeoutError:
            stopped[target] = f"after a {case.kind} payload to {case.command}: {case.payload[:80]!r}"
            outcomes += [Outcome(rest, sent=False) for rest in cases[n + 1 :]]
            return
        finally:
            watch.current.pop(target, None)


def _snapshot(home: Home, ctl: Controller) -> dict[str, Any]:
    """Every device's state and ``seq`` (its model and the retained copy), and the orchestrator's
    flows and rules."""
    out: dict[str, Any] = {}
    for device_id, device in home.devices.items():
        view = ctl.registry.devices.get(device_id)
        out[device_id] = (device.seq, device.state.model_dump(mode="json"), view.state if view else None)
    orchestrator = home.orchestrator
    if orchestrator is None:
        msg = "the fuzz run needs the home's orchestrator"
        raise BenchError(msg)
    rules = {}
    for service in orchestrator.services:
        if isinstance(service, Automations):
            rules = {rule_id: automation.enabled for rule_id, automation in service.rules.items()}
    out[ORCHESTRATOR] = (sorted(orchestrator.flows), dict(ctl.flows), rules)
    return out


@dataclass
class _Logged:
    count: int = 0
    first: list[str] = field(default_factory=list)


class _Counter(logging.Handler):
    def __init__(self, logged: _Logged) -> None:
        super().__init__(logging.ERROR)
        self.logged = logged

    def emit(self, record: logging.LogRecord) -> None:
        self.logged.count += 1
        if len(self.logged.first) < 5:
            kind = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else None
            self.logged.first.append(f"{record.getMessage()}{f' ({kind})' if kind else ''}")


@contextlib.contextmanager
def _counting_errors() -> Iterator[_Logged]:
    """Count HyperHome's error log lines (tracebacks) while the payloads go out, instead of
    printing thousands of them: the count is a figure of the run."""
    logged = _Logged()
    logger = logging.getLogger("hyperhome")
    handler, propagate = _Counter(logged), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield logged
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _row(
    outcomes: list[Outcome],
    watch: _Watch,
    changed: list[str],
    stopped: dict[str, str],
    logged: _Logged,
    seconds: float,
    seed: int,
) -> Row:
    verdicts = Counter(o.verdict for o in outcomes)
    by_class: dict[str, dict[str, Any]] = {}
    for outcome in outcomes:
        entry = by_class.setdefault(outcome.case.kind, {"sent": 0, "codes": Counter()})
        entry["sent"] += 1
        entry[outcome.verdict] = entry.get(outcome.verdict, 0) + 1
        if outcome.changes:
            entry["changed_state"] = entry.get("changed_state", 0) + 1
        if outcome.verdict is Verdict.REFUSED and not outcome.right_code:
            entry["other_code"] = entry.get("other_code", 0) + 1
        if outcome.code is not None:
            entry["codes"][outcome.code] += 1
    for entry in by_class.values():
        entry["codes"] = dict(entry["codes"])
    leaky = [o for o in outcomes if o.verdict is Verdict.ACCEPTED or o.changes]
    refused = [o for o in outcomes if o.verdict is Verdict.REFUSED and not o.changes]
    lost = verdicts[Verdict.NO_REPLY] + verdicts[Verdict.NOT_SENT]
    notes = _notes(outcomes, watch, changed, stopped)
    return Row(
        "fuzz",
        "fuzz: bad payloads",
        attempts=len(outcomes),
        refused=len(refused),
        leaked=len(leaky) + len(watch.stray_changes),
        lost=lost,
        duplicated=verdicts[Verdict.DUPLICATED] + len(watch.stray_replies),
        details={
            "seed": seed,
            "payload_bytes": sum(len(o.case.payload) for o in outcomes),
            "seconds": round(seconds, 2),
            "payloads_per_s": round(len(outcomes) / seconds) if seconds else 0,
            "command_topics": len({(o.case.target, o.case.command) for o in outcomes}),
            "verdicts": {str(v): n for v, n in sorted(verdicts.items())},
            "by_class": by_class,
            "state_changed": changed,
            "stray_replies": watch.stray_replies[:10],
            "stray_changes": watch.stray_changes[:10],
            "stopped_answering": stopped,
            "logged_errors": logged.count,
            "logged_examples": logged.first,
            "examples": _examples(outcomes),
            "notes": notes,
        },
    )


def _describe(outcome: Outcome) -> str:
    case = outcome.case
    payload = case.payload[:100] + (b"..." if len(case.payload) > 100 else b"")
    got = json.dumps(outcome.replies[0])[:160] if len(outcome.replies) == 1 else f"{len(outcome.replies)} replies"
    return f"{case.kind} {case.target}/cmd/{case.command} {payload!r}: {got}"


def _examples(outcomes: list[Outcome]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for outcome in outcomes:
        if outcome.verdict is Verdict.REFUSED and outcome.right_code and not outcome.changes:
            continue
        key = "changed_state" if outcome.changes else str(outcome.verdict)
        if outcome.verdict is Verdict.REFUSED and not outcome.changes:
            key = "other_code"
        examples = out.setdefault(key, [])
        if len(examples) < 5:
            examples.append(_describe(outcome))
    return out


def _notes(outcomes: list[Outcome], watch: _Watch, changed: list[str], stopped: dict[str, str]) -> list[str]:
    """One line per kind of departure from the contract, naming the classes it happened in."""
    notes: list[str] = []

    def classes(pick: Callable[[Outcome], bool]) -> str:
        counts = Counter(o.case.kind for o in outcomes if pick(o))
        return ", ".join(f"{kind} {n:,}" for kind, n in counts.most_common())

    checks: list[tuple[str, Callable[[Outcome], bool]]] = [
        ("got no reply", lambda o: o.verdict is Verdict.NO_REPLY),
        ("were not sent: their target had stopped answering", lambda o: o.verdict is Verdict.NOT_SENT),
        ("got more than one reply", lambda o: o.verdict is Verdict.DUPLICATED),
        ("were accepted (ok: true)", lambda o: o.verdict is Verdict.ACCEPTED),
        ("were answered with another id", lambda o: o.verdict is Verdict.WRONG_ID),
        ("made their target publish state, events or flows", lambda o: bool(o.changes)),
        (
            "were refused with another code than the contract's",
            lambda o: o.verdict is Verdict.REFUSED and not o.right_code,
        ),
    ]
    for what, pick in checks:
        count = sum(1 for o in outcomes if pick(o))
        if count:
            notes.append(f"{count:,} payloads {what} ({classes(pick)})")
    if changed:
        notes.append(f"state differs after the run: {', '.join(changed)}")
    if watch.stray_replies or watch.stray_changes:
        notes.append(f"{len(watch.stray_replies)} replies and {len(watch.stray_changes)} publishes outside any payload")
    notes += [f"{target} stopped answering {where}" for target, where in stopped.items()]
    return notes
