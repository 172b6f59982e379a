"""The seeded day generator: what happens in each home of a fleet, and when.

A home's day is a list of *episodes*, each a few commands at simulated times (seconds since the
day's midnight, UTC):

- ``weather``: every hour the outdoor temperature of a curve (a seeded mean and swing, warmest
  at 15:00) goes to every air conditioner and car (``simulate.outdoor``);
- ``leave``: each resident's phone goes to the office in the morning (and their car drives
  there); the home's ``leaving_home`` automation locks up and switches the ACs off;
- ``visitor``: someone at the door camera (``simulate.person``) during the day, while nobody is
  home (the ``person_at_door_while_away`` automation tells the resident), or in the evening;
- ``return``: the phone starts home from the office (``simulate.approach`` at a seeded speed);
  on the way the pre-cool automation starts the ``precool`` flow, on arrival the door unlocks,
  and the resident opens and shuts the door;
- ``call``: a video call on a tablet or laptop, moved to the phone's rear camera and back a
  few minutes later (``camera_handoff`` flows), then ended;
- ``hotspot``: during the day the tablet is on a Wi-Fi it does not know; it asks for the
  phone's hotspot by itself (the ``network_share`` flow), works, and is back on home Wi-Fi;
- ``voice``: requests to the speaker (or the phone) in the morning and evening, at home.

What the template lacks (no car, no camera, no speaker) is left out. Everything is drawn from
``random.Random(f"{seed}/{home index}/{day}")``: the plan of a home depends only on the seed, its
index and the template, never on how the fleet is sharded or how many homes there are.

A home does not start its first day at midnight: it *joins* its day (``join``)

- ``episode`` (the default): a little before one of its episodes (``lead_s``), the kinds taken in
  turn over the homes (home 0 before its return, home 1 before its call, ...), so even a short
  run of a fleet shows the whole mix of traffic. That mix is front-loaded: about one home in six
  starts on a video call, where a real fleet at any moment has far fewer;
- ``anytime``: at a moment of its day drawn uniformly, so a run shows the mix of a real day
  (most homes idle between their episodes at any moment): the load of a fleet in steady state.

The episodes that began before it joined are not run; the home's devices start in the state of
that moment (``start_state``: the residents home or away, the outdoor temperature of the hour).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from hyperhome.broker.topics import ORCHESTRATOR
from hyperhome.home.homefile import HomeFile

DAY_S = 86_400.0
FIRST_DAY = datetime(2026, 7, 1, tzinfo=UTC).timestamp()
"""Midnight (UTC) of the first simulated day: a summer day, as the demo's."""
JOIN_ORDER = ("return", "call", "hotspot", "leave", "visitor", "voice")
"""The episode kinds homes join their day before, in turn (so every kind of flow shows early)."""
Join = Literal["episode", "anytime"]
"""When homes join their day: before an episode of their turn, or at any moment (module docstring)."""
JOINS: tuple[Join, ...] = get_args(Join)


def join_of(name: str) -> Join:
    """``name`` as a ``Join``; ValueError if it is none."""
    for join in JOINS:
        if join == name:
            return join
    msg = f"join must be one of {', '.join(JOINS)}, not {name!r}"
    raise ValueError(msg)


LEAD_S = (5.0, 40.0)
"""How long before that episode a home joins its day (simulated seconds, drawn per home)."""

VOICE_REQUESTS = (
    "小爱同学，把客厅空调调到二十四度",
    "Hey assistant, turn on the bedroom AC",
    "Hey assistant, what's the temperature in the living room?",
    "小爱同学，把卧室空调关掉",
    "Hey assistant, set the living room AC to 25 degrees",
)
"""What residents ask (the shipped grammar's words, docs/voice.md)."""
VISITORS = (None, None, "Bob", "a courier")
"""Who is at the door (None: someone the camera does not know)."""
CALLERS = ("grandma", "mum", "work", "a friend")
CAFES = ("cafe-guest", "library", "train-wifi")
HOME_WIFI = "home-5g"
"""The Wi-Fi a tablet knows (its default config)."""


@dataclass(frozen=True, slots=True)
class Step:
    """One command at simulated time ``at`` (epoch seconds); ``device`` ``$orchestrator`` starts a flow."""

    at: float
    device: str
    command: str
    args: dict[str, Any] = field(default_factory=dict)

    @property
    def flow(self) -> str | None:
        """The flow kind this step starts, if it starts one."""
        return self.command if self.device == ORCHESTRATOR else None


@dataclass(frozen=True, slots=True)
class Episode:
    kind: str
    steps: tuple[Step, ...]

    @property
    def start(self) -> float:
        return self.steps[0].at


@dataclass(frozen=True, slots=True)
class HomePlan:
    """One home's days: where it joins (``joined``), its episodes from there, and its start state."""

    index: int
    home: str
    joined: float
    episodes: tuple[Episode, ...]
    start_state: dict[str, dict[str, Any]]
    """Device id -> state fields to start with (merged over the template's)."""

    def steps(self) -> list[Step]:
        return sorted((s for e in self.episodes for s in e.steps), key=lambda s: s.at)


@dataclass(frozen=True, slots=True)
class _Roles:
    """Which devices of the template play which part."""

    phones: tuple[tuple[str, str], ...]  # (resident, phone id)
    cars: dict[str, str]  # resident -> car id
    acs: tuple[str, ...]
    call_devices: tuple[str, ...]
    camera: str | None
    lock: str | None
    speaker: str | None
    office_km: dict[str, float]  # phone id -> km from home to the office


def roles(template: HomeFile) -> _Roles:
    by_kind: dict[str, list[Any]] = {}
    for spec in template.devices:
        by_kind.setdefault(spec.kind, []).append(spec)
    phones = tuple((p.owner, p.id) for p in by_kind.get("phone", []) if p.owner)
    office = {
        p.id: float(p.config.get("places_km", {}).get("office", 12.0)) for p in by_kind.get("phone", []) if p.owner
    }
    return _Roles(
        phones=phones,
        cars={c.owner: c.id for c in by_kind.get("car", []) if c.owner},
        acs=tuple(a.id for a in by_kind.get("air_conditioner", [])),
        call_devices=tuple(d.id for kind in ("tablet", "laptop") for d in by_kind.get(kind, [])),
        camera=next((c.id for c in by_kind.get("camera", [])), None),
        lock=next((c.id for c in by_kind.get("lock", [])), None),
        speaker=next((c.id for c in by_kind.get("speaker", [])), None),
        office_km=office,
    )


def outdoor_c(mean_c: float, swing_c: float, t: float) -> float:
    """The weather curve: warmest at 15:00, coolest at 03:00."""
    hour = (t % DAY_S) / 3600
    return round(mean_c + swing_c * math.sin(2 * math.pi * (hour - 9) / 24), 1)


def day_episodes(seed: int, index: int, day: int, template: HomeFile) -> tuple[list[Episode], dict[str, Any]]:
    """The episodes of one day of home ``index`` (sorted by start), and its facts (leave and return times)."""
    rng = random.Random(f"{seed}/{index}/{day}")
    r = roles(template)
    midnight = FIRST_DAY + day * DAY_S

    def at(hours: float) -> float:
        return midnight + hours * 3600

    episodes: list[Episode] = []
    mean_c, swing_c = rng.uniform(26, 31), rng.uniform(4, 8)
    weather_to = [*r.acs, *r.cars.values()]
    if weather_to:
        for hour in range(24):
            t = at(hour) + 1
            hourly = tuple(
                Step(t, d, "simulate.outdoor", {"outdoor_temp_c": outdoor_c(mean_c, swing_c, t)}) for d in weather_to
            )
            episodes.append(Episode("weather", hourly))
    home_at: str | None = None
    leave_at, back_at = at(rng.uniform(7.5, 9.0)), at(rng.uniform(17.0, 19.0))
    facts: dict[str, Any] = {"out": {}, "back": {}, "weather": (mean_c, swing_c)}
    if r.speaker is not None or r.phones:
        home_at = r.speaker or r.phones[0][1]
        for _ in range(rng.randint(0, 2)):  # morning, before leaving
            t = rng.uniform(at(6.5), leave_at - 120)
            episodes.append(
                Episode("voice", (Step(t, home_at, "hear", {"text": rng.choice(VOICE_REQUESTS), "level_db": 60}),))
            )
    for resident, phone in r.phones:
        out = facts["out"][phone] = leave_at + rng.uniform(0, 600)
        km = r.office_km[phone]
        steps = [Step(out, phone, "move", {"location": "office", "distance_km": km})]
        car = r.cars.get(resident)
        if car is not None:
            steps.append(Step(out + 5, car, "drive.start", {"destination": "office", "distance_km": km}))
        episodes.append(Episode("leave", tuple(steps)))
    if r.camera is not None:
        for _ in range(rng.randint(1, 2)):  # while nobody is home
            t = rng.uniform(at(10), at(16.5))
            visitor = rng.choice(VISITORS)
            episodes.append(Episode("visitor", (Step(t, r.camera, "simulate.person", _person(visitor)),)))
    for resident, phone in r.phones:
        start = facts["back"][phone] = back_at + rng.uniform(0, 600)
        km, kmh = r.office_km[phone], rng.uniform(30, 50)
        arrive = start + km / kmh * 3600
        steps = [Step(start, phone, "simulate.approach", {"distance_km": km, "speed_kmh": round(kmh, 1)})]
        car = r.cars.get(resident)
        if car is not None:
            steps.append(
                Step(
                    start + 5,
                    car,
                    "drive.start",
                    {"destination": "home", "distance_km": km, "speed_kmh": round(kmh, 1)},
                )
            )
        if r.lock is not None:
            steps.append(Step(arrive + rng.uniform(30, 90), r.lock, "simulate.door", {"open": True}))
            steps.append(Step(arrive + rng.uniform(100, 130), r.lock, "simulate.door", {"open": False}))
        episodes.append(Episode("return", tuple(steps)))
    hotspot = next((d for d in r.call_devices if template.device(d).kind == "tablet"), None)
    if hotspot is not None and r.phones:
        t = leave_at + rng.uniform(1800, 5400)  # the tablet went with its owner; no known Wi-Fi there
        back = t + rng.uniform(60, 300)
        episodes.append(
            Episode(
                "hotspot",
                (
                    Step(t, hotspot, "simulate.wifi", {"ssid": rng.choice(CAFES), "link": "up"}),
                    Step(t + 15, hotspot, "simulate.traffic", {"mb_per_h": round(rng.uniform(200, 900))}),
                    Step(back, hotspot, "simulate.wifi", {"ssid": HOME_WIFI, "link": "up"}),
                ),
            )
        )
    evening = at(19.5)
    if r.camera is not None and rng.random() < 0.5:
        t = rng.uniform(evening, at(21))
        episodes.append(Episode("visitor", (Step(t, r.camera, "simulate.person", _person("Bob")),)))
    if r.call_devices and r.phones:
        call = rng.choice(r.call_devices)
        user, phone = r.phones[0]
        t = rng.uniform(at(20), at(21.5))
        rear = t + rng.uniform(20, 60)
        back = rear + rng.uniform(60, 180)
        handoff = {"call_device": call, "fps": 30, "user": user}
        episodes.append(
            Episode(
                "call",
                (
                    Step(t, call, "call.start", {"with": rng.choice(CALLERS)}),
                    Step(
                        rear, ORCHESTRATOR, "camera_handoff", {**handoff, "source": {"device": phone, "stream": "rear"}}
                    ),
                    Step(
                        back, ORCHESTRATOR, "camera_handoff", {**handoff, "source": {"device": call, "stream": "front"}}
                    ),
                    Step(back + rng.uniform(30, 90), call, "call.end"),
                ),
            )
        )
    if home_at is not None:
        for _ in range(rng.randint(1, 3)):  # evening, at home
            t = rng.uniform(at(19.5), at(22.5))
            episodes.append(
                Episode("voice", (Step(t, home_at, "hear", {"text": rng.choice(VOICE_REQUESTS), "level_db": 60}),))
            )
    episodes.sort(key=lambda e: e.start)
    return episodes, facts


def _person(name: str | None) -> dict[str, Any]:
    return {} if name is None else {"name": name}


def plan_home(
    seed: int, index: int, home: str, template: HomeFile, *, days: int = 1, join: Join = "episode"
) -> HomePlan:
    """Home ``index``'s plan: it joins its first day ``LEAD_S`` before the episode of its turn in
    ``JOIN_ORDER`` (``join="episode"``) or at a moment of the day drawn uniformly (``"anytime"``),
    and lives ``days`` days from there."""
    join = join_of(join)
    first, facts = day_episodes(seed, index, 0, template)
    rng = random.Random(f"{seed}/{index}/join")
    if join == "anytime":
        joined = FIRST_DAY + rng.uniform(0.0, DAY_S)
    else:
        kinds = [k for k in JOIN_ORDER if any(e.kind == k for e in first)] or ["weather"]
        kind = kinds[index % len(kinds)]
        target = next(e for e in first if e.kind == kind)
        joined = target.start - rng.uniform(*LEAD_S)
    until = joined + days * DAY_S
    episodes = [e for e in first if e.start >= joined]
    for day in range(1, days + 1):
        more, _ = day_episodes(seed, index, day, template)
        episodes += [e for e in more if e.start < until]
    return HomePlan(index, home, joined, tuple(episodes), _start_state(template, joined, facts))


def _start_state(template: HomeFile, joined: float, facts: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The devices' state when the home joins its day: where the residents are, the weather."""
    r = roles(template)
    state: dict[str, dict[str, Any]] = {}
    for resident, phone in r.phones:
        away = facts["out"][phone] <= joined < facts["back"][phone]
        state[phone] = {"location": "office" if away else "home"}
        if (car := r.cars.get(resident)) is not None:
            state[car] = {"location": "office" if away else "home"}
    mean_c, swing_c = facts["weather"]
    for ac in r.acs:
        state[ac] = {"outdoor_temp_c": outdoor_c(mean_c, swing_c, joined)}
    return state


def plan_fleet(
    seed: int, homes: list[tuple[int, str]], template: HomeFile, *, days: int = 1, join: Join = "episode"
) -> list[HomePlan]:
    """The plans of ``homes`` (index, home id): any subset gives the same plans as the whole."""
    return [plan_home(seed, index, home, template, days=days, join=join) for index, home in homes]
