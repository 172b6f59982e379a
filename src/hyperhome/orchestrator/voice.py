"""The home's voice assistant: wake arbitration, intents turned into device commands, spoken replies.

Devices that hear (the speaker, the phone, the car's seat microphones) publish
``event/utterance {text, level_db, zone?, handled?}``; they do not act on words themselves
(except the car, for its own functions: devices/car_assistant.py). This service:

1. **Groups** utterances that start with a wake word by that wake word, for ``window_s``
   (300 ms of simulated time, the issue's figure) from the first. Utterances with no wake word
   are ignored: the home does not answer conversation.
2. **Arbitrates** when the window closes (``arbitrate``): one candidate answers, the others stay
   silent. Order: a device that already acted on it (``handled``: the car) wins; then the loudest
   (``level_db`` rounded to 0.1 dB); then the first heard; then kind priority speaker > car >
   phone > others (a dedicated far-field microphone array first, then the car's seat
   microphone); then the device id, then the zone. The decision, its inputs and the criterion
   that decided are published on ``$orchestrator/event/wake_arbitration``.
3. **Answers** the winner (unless it already acted): parses its words with the grammar,
   carries the intent out with device commands, publishes ``$orchestrator/event/voice`` and
   says the reply with ``say`` on the winner (in the car, in the zone that spoke).

Commands: ``voice.parse {text}`` answers what the grammar makes of a text (for grammar authors).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hyperhome.broker.wire import format_validation_error
from hyperhome.errors import CommandError, ErrorCode, NotConnectedError
from hyperhome.orchestrator.service import CommandHandler
from hyperhome.tasks import TaskOwner
from hyperhome.voice import Grammar, Lang, Parse

if TYPE_CHECKING:
    from hyperhome.devices.clock import TimerHandle
    from hyperhome.orchestrator.registry import DeviceView
    from hyperhome.orchestrator.service import Orchestrator

log = logging.getLogger(__name__)

WAKE_WINDOW_S = 0.3
"""Utterances of one wake word within this much simulated time of the first are one wake-up (issue 5)."""
COMMAND_TIMEOUT_S = 5.0
"""How long a device has to answer a command the assistant sends (simulated), as flows wait."""
KIND_PRIORITY = {"speaker": 0, "car": 1, "phone": 2}
"""Same level, same instant: a far-field microphone array first, then the car's seat mic, then a phone."""
OTHER_KIND = len(KIND_PRIORITY)
ZONE_ORDER = ("driver", "front_passenger", "rear_left", "rear_center", "rear_right")
Outcome = Literal["done", "not_understood", "refused", "failed", "no_connection"]
Rule = Literal["only_candidate", "handled_locally", "loudest", "first_heard", "kind_priority", "device_id", "zone"]


class Utterance(BaseModel):
    """An ``event/utterance`` payload, validated at the edge (other fields are ignored)."""

    model_config = ConfigDict(extra="ignore")

    text: str = Field(min_length=1, max_length=500)
    level_db: float = Field(ge=0, le=130)
    zone: str | None = Field(None, pattern=r"^[a-z][a-z_]{0,31}$")
    handled: bool = False


class ParseArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=500)


# -- arbitration (pure) ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    """One device (and seat zone) that heard the wake word."""

    device: str
    kind: str | None
    level_db: float
    heard_at: float
    text: str
    zone: str | None = None
    handled: bool = False

    def criteria(self) -> tuple[tuple[Rule, Any], ...]:
        """The sort key, criterion by criterion (smaller wins)."""
        return (
            ("handled_locally", not self.handled),
            ("loudest", -round(self.level_db, 1)),
            ("first_heard", self.heard_at),
            ("kind_priority", KIND_PRIORITY.get(self.kind or "", OTHER_KIND)),
            ("device_id", self.device),
            ("zone", ZONE_ORDER.index(self.zone) if self.zone in ZONE_ORDER else len(ZONE_ORDER)),
        )


def arbitrate(candidates: list[Candidate]) -> tuple[Candidate, Rule]:
    """The candidate that answers and the criterion that decided (see the module docstring)."""
    ranked = sorted(candidates, key=lambda c: tuple(value for _, value in c.criteria()))
    if len(ranked) == 1:
        return ranked[0], "only_candidate"
    for (rule, best), (_, second) in zip(ranked[0].criteria(), ranked[1].criteria(), strict=True):
        if best != second:
            return ranked[0], rule
    return ranked[0], "zone"  # the same device and zone twice: the first copy


@dataclass
class _Window:
    wake_word: str
    candidates: list[Candidate] = field(default_factory=list)
    timer: TimerHandle | None = None


@dataclass(frozen=True)
class Answer:
    outcome: Outcome
    reply: str
    slots: dict[str, Any] = field(default_factory=dict)


class _NoTarget(Exception):
    """The request names no device the assistant can act on; ``answer`` says why."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.reply)
        self.answer = answer


IntentHandler = Callable[[Parse, Candidate], Awaitable[Answer]]
"""What answers one intent: the parse of what was heard, and who heard it."""


# -- the service ----------------------------------------------------------------------------------
class VoiceService:
    """The orchestrator's voice assistant; see the module docstring."""

    def __init__(
        self,
        grammar: Grammar | None = None,
        *,
        window_s: float = WAKE_WINDOW_S,
        intents: Mapping[str, IntentHandler] | None = None,
    ) -> None:
        """``intents``: handlers of the grammar's intents, added to the assistant's own or
        replacing one of them (a handler that raises still gets the person an answer)."""
        self.grammar = grammar or Grammar.default()
        self.window_s = window_s
        self._orchestrator: Orchestrator | None = None
        self._windows: dict[str, _Window] = {}
        self._tasks = TaskOwner("voice", logger=log)
        self._intents: dict[str, IntentHandler] = {
            "device.power": self._power,
            "climate.set_temperature": self._set_temperature,
            "climate.query": self._query_temperature,
            "lock.lock": self._lock,
            "lock.unlock": self._unlock,
            "car.climate": self._car_climate,
            "car.set_temperature": self._car_climate,
            **(intents or {}),
        }

    # -- Service -----------------------------------------------------------------------------------
    @property
    def commands(self) -> Mapping[str, CommandHandler]:
        return {"voice.parse": self._parse_command}

    async def start(self, orchestrator: Orchestrator) -> None:
        self._orchestrator = orchestrator
        await self._tasks.open()

    async def stop(self) -> None:
        for window in self._windows.values():
            if window.timer is not None:
                window.timer.cancel()
        self._windows.clear()
        await self._tasks.aclose()

    async def on_event(self, device: str, name: str, payload: dict[str, Any]) -> None:
        if name != "utterance" or self._orchestrator is None:
            return
        try:
            heard = Utterance.model_validate(payload)
        except ValidationError as exc:
            log.warning("ignoring a malformed utterance from %s: %s", device, format_validation_error(exc))
            return
        woken = self.grammar.wake(heard.text)
        if woken is None:
            return  # no wake word: conversation, not a request to the home
        clock = self._orchestrator.clock
        view = self._orchestrator.registry.get(device)
        candidate = Candidate(
            device, view.kind if view else None, heard.level_db, clock.now(), heard.text, heard.zone, heard.handled
        )
        window = self._windows.get(woken[0])
        if window is None:
            window = self._windows[woken[0]] = _Window(woken[0])
            window.timer = clock.call_at(clock.now() + self.window_s, lambda: self._close(window))
        window.candidates.append(candidate)

    # -- arbitration -------------------------------------------------------------------------------
    def _close(self, window: _Window) -> None:
        if self._windows.get(window.wake_word) is window:
            del self._windows[window.wake_word]
        self._tasks.spawn(
            self._decide(window), name=f"voice:{window.wake_word}", failure="the voice assistant failed on a request"
        )

    async def _decide(self, window: _Window) -> None:
        orch = self._require()
        winner, rule = arbitrate(window.candidates)
        await self._publish(
            "wake_arbitration",
            {
                "wake_word": window.wake_word,
                "window_ms": round(self.window_s * 1000),
                "winner": winner.device,
                "zone": winner.zone,
                "candidates": [
                    {"device": c.device, "level_db": c.level_db, "zone": c.zone, "heard_at": orch.clock.iso(c.heard_at)}
                    for c in window.candidates
                ],
                "rule": rule,
            },
        )
        if not winner.handled:
            await self._answer(winner)

    # -- answering ---------------------------------------------------------------------------------
    async def _answer(self, heard: Candidate) -> None:
        parse = self.grammar.parse(heard.text)
        handler = self._intents.get(parse.intent or "")
        if handler is None:
            answer = Answer("not_understood", self.grammar.reply("not_understood", parse.lang))
        else:
            try:
                answer = await handler(parse, heard)
            except _NoTarget as exc:
                answer = exc.answer
            except Exception:  # a bug here must still leave the person with an answer
                log.exception("the voice assistant failed on %r from %s", heard.text, heard.device)
                answer = Answer("failed", self.grammar.reply("internal_error", parse.lang))
        await self._publish(
            "voice",
            {
                "device": heard.device,
                "zone": heard.zone,
                "text": heard.text,
                "lang": parse.lang,
                "intent": parse.intent,
                "slots": answer.slots or parse.slots,
                "outcome": answer.outcome,
                "reply": answer.reply,
            },
        )
        await self._say(heard, answer.reply)

    async def _say(self, heard: Candidate, text: str) -> None:
        args: dict[str, Any] = {"text": text}
        if heard.kind == "car" and heard.zone is not None:
            args["zone"] = heard.zone
        try:
            reply = await self._require().requests.request(heard.device, "say", args, timeout_s=COMMAND_TIMEOUT_S)
        except (TimeoutError, NotConnectedError):
            log.warning("%s did not say the reply %r", heard.device, text)
            return
        if reply.error is not None:
            log.warning("%s refused to say %r: %s", heard.device, text, reply.error.message)

    # -- intents -----------------------------------------------------------------------------------
    async def _power(self, parse: Parse, heard: Candidate) -> Answer:
        kind = parse.slots.get("device", "air_conditioner")
        on = parse.slots.get("state", "on") == "on"
        if kind == "lock":  # switching a lock on is opening it
            return await self._unlock(parse, heard) if on else await self._lock(parse, heard)
        view, target = self._target(kind, parse, heard)
        switch = {"air_conditioner": ("power", {"on": on}), "camera": ("privacy", {"on": not on})}.get(kind)
        if switch is None:
            return Answer("failed", self.grammar.reply("cannot_switch", parse.lang, target=target))
        failed = await self._command(view, switch[0], switch[1], target, parse.lang)
        reply = self.grammar.reply("power_on" if on else "power_off", parse.lang, target=target)
        return failed or Answer("done", reply)

    async def _set_temperature(self, parse: Parse, heard: Candidate) -> Answer:
        view, target = self._target(parse.slots.get("device", "air_conditioner"), parse, heard)
        number = parse.slots["number"]
        low, high = _range(view, "set", "target_c")
        if not low <= number <= high:
            reply = self.grammar.reply("home_out_of_range", parse.lang, target=target, low=low, high=high)
            return Answer("failed", reply)
        failed = await self._command(view, "set", {"power": True, "target_c": number}, target, parse.lang)
        return failed or Answer("done", self.grammar.reply("set_temperature", parse.lang, target=target, number=number))

    async def _query_temperature(self, parse: Parse, heard: Candidate) -> Answer:
        view, _ = self._target("air_conditioner", parse, heard)
        room = view.meta.room if view.meta and view.meta.room else None
        where = self.grammar.name("room", room, parse.lang) if room else self._device_name(view, parse.lang)
        value = (view.state or {}).get("room_temp_c")
        if not isinstance(value, int | float):
            return Answer("failed", self.grammar.reply("device_offline", parse.lang, target=where))
        slots = {**parse.slots, "room": room} if room else parse.slots
        return Answer("done", self.grammar.reply("temperature_is", parse.lang, target=where, value=value), slots)

    async def _lock(self, parse: Parse, heard: Candidate) -> Answer:
        view, target = self._target("lock", parse, heard)
        failed = await self._command(view, "lock", {}, target, parse.lang)
        return failed or Answer("done", self.grammar.reply("locked", parse.lang, target=target))

    async def _unlock(self, parse: Parse, heard: Candidate) -> Answer:
        return Answer("refused", self.grammar.reply("unlock_refused", parse.lang))

    async def _car_climate(self, parse: Parse, heard: Candidate) -> Answer:
        view, _ = self._target("car", parse, heard, owner=self._owner(heard.device))
        zone: str = parse.slots.get("zone") or (heard.zone if heard.kind == "car" and heard.zone else "all")
        args: dict[str, Any] = {} if zone == "all" else {"zone": zone}
        where = self.grammar.name("zone", zone, parse.lang)
        slots = {**parse.slots, "zone": zone}
        if "number" in parse.slots:
            low, high = _range(view, "climate.set", "target_c")
            if not low <= parse.slots["number"] <= high:
                reply = self.grammar.reply("car_out_of_range", parse.lang, low=low, high=high)
                return Answer("failed", reply, slots)
            args.update(power=True, target_c=parse.slots["number"])
            key, values = "car_set_temperature", {"number": parse.slots["number"]}
        else:
            on = parse.slots.get("state", "on") == "on"
            args["power"] = on
            key, values = ("car_climate_on" if on else "car_climate_off"), {}
        target = self._device_name(view, parse.lang)
        failed = await self._command(view, "climate.set", args, target, parse.lang)
        return failed or Answer("done", self.grammar.reply(key, parse.lang, zone=where, **values), slots)

    # -- helpers -----------------------------------------------------------------------------------
    def _target(self, kind: str, parse: Parse, heard: Candidate, *, owner: str | None = None) -> tuple[DeviceView, str]:
        """The one device of ``kind`` the request means, and how the reply names it.

        In the room named; else, with several, the one in the room of the device that heard;
        ``owner`` prefers that resident's. _NoTarget (a reply) when none, several or offline.
        """
        lang, room = parse.lang, parse.slots.get("room")
        views = [v for v in self._require().registry.devices.values() if v.kind == kind and v.meta is not None]
        name = self.grammar.name("device", kind, lang) if kind in self.grammar.source.slots.get("device", {}) else kind
        target = _join(self.grammar.name("room", room, lang), name, lang) if room else name
        if room:
            views = [v for v in views if v.meta is not None and v.meta.room == room]
        else:
            here = self._room_of(heard.device)
            for key, wanted in (("room", here), ("owner", owner)):
                preferred = [v for v in views if wanted is not None and getattr(v.meta, key) == wanted]
                if len(views) > 1 and preferred:
                    views = preferred
        if not views:
            raise _NoTarget(Answer("failed", self.grammar.reply("no_device", lang, target=target)))
        if len(views) > 1:
            raise _NoTarget(Answer("failed", self.grammar.reply("which_device", lang, target=target)))
        view = views[0]
        if not room:
            target = self._device_name(view, lang)
        if not view.online:
            raise _NoTarget(Answer("failed", self.grammar.reply("device_offline", lang, target=target)))
        return view, target

    def _device_name(self, view: DeviceView, lang: Lang) -> str:
        """How a reply names a device: its room and kind in words (客厅空调, living room air conditioner)."""
        meta = view.meta
        kind = meta.kind if meta else view.id
        name = self.grammar.name("device", kind, lang) if kind in self.grammar.source.slots.get("device", {}) else None
        if name is None:
            return meta.name if meta else view.id
        return _join(self.grammar.name("room", meta.room, lang), name, lang) if meta and meta.room else name

    def _room_of(self, device: str) -> str | None:
        view = self._require().registry.get(device)
        return view.meta.room if view is not None and view.meta is not None else None

    def _owner(self, device: str) -> str | None:
        view = self._require().registry.get(device)
        return view.meta.owner if view is not None and view.meta is not None else None

    async def _command(
        self, view: DeviceView, command: str, args: dict[str, Any], target: str, lang: Lang
    ) -> Answer | None:
        """Send a command; None when it was done, else the failed answer saying why."""
        try:
            await self._require().requests.send(view.id, command, args, timeout_s=COMMAND_TIMEOUT_S)
        except CommandError as exc:
            return Answer("failed", self.grammar.reply("device_failed", lang, target=target, reason=exc.message))
        except (TimeoutError, NotConnectedError):
            return Answer("failed", self.grammar.reply("device_offline", lang, target=target))
        return None

    async def _publish(self, name: str, payload: dict[str, Any]) -> None:
        await self._require().emit(name, payload)

    def _require(self) -> Orchestrator:
        if self._orchestrator is None:
            msg = "the voice service is not started"
            raise RuntimeError(msg)
        return self._orchestrator

    # -- commands ----------------------------------------------------------------------------------
    async def _parse_command(self, args: dict[str, Any]) -> dict[str, Any]:
        try:
            text = ParseArgs.model_validate(args).text
        except ValidationError as exc:
            raise CommandError(ErrorCode.INVALID_ARGS, format_validation_error(exc)) from None
        parse = self.grammar.parse(text)
        return {
            "wake_word": parse.wake_word,
            "lang": parse.lang,
            "request": parse.request,
            "intent": parse.intent,
            "slots": parse.slots,
        }


def _join(room: str, device: str, lang: Lang) -> str:
    return f"{room}{device}" if lang == "zh" else f"{room} {device}"


def _range(view: DeviceView, command: str, field_name: str) -> tuple[float, float]:
    """A numeric arg's bounds from the device's ``$meta`` JSON Schema (unbounded when it gives none)."""
    schema = view.meta.commands.get(command, {}) if view.meta else {}
    prop = schema.get("properties", {}).get(field_name, {})
    options = [prop, *prop.get("anyOf", [])]
    low = next((o["minimum"] for o in options if "minimum" in o), float("-inf"))
    high = next((o["maximum"] for o in options if "maximum" in o), float("inf"))
    return float(low), float(high)
