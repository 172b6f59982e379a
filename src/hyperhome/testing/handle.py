"""A running home handed to a user's test: logins, state, commands, time, and recorded traffic.

``start_home`` brings a home up (broker, devices, orchestrator) and yields a ``TestHome``; the
pytest plugin (plugin.py) wraps it as the ``hyperhome`` fixture. docs/test-your-code.md is the
user's page for all of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from paho.mqtt.client import topic_matches_sub
from pydantic import ValidationError

from hyperhome.broker.client import BusClient, Message
from hyperhome.broker.identity import claim_seat
from hyperhome.broker.topics import SYNC
from hyperhome.broker.wire import format_validation_error
from hyperhome.devices.clock import DEFAULT_SETTLE_S, Advanced, ManualClock, VirtualClock
from hyperhome.durations import format_duration, parse_duration
from hyperhome.errors import ConfigError
from hyperhome.home.homefile import load_home
from hyperhome.home.runtime import Home
from hyperhome.orchestrator.controller import Controller
from hyperhome.scenarios.runner import describe_checks, failing, show
from hyperhome.scenarios.scenario import Check

ClockMode = Literal["manual", "virtual"]
ROLES = ("controller", "integration")


@dataclass(frozen=True, slots=True)
class BrokerUrl:
    """Where the home's broker listens: ``home.url.host``, ``home.url.port``, ``str(home.url)``."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def __iter__(self) -> Iterator[Any]:  # host, port = home.url
        return iter((self.host, self.port))


@dataclass(frozen=True, slots=True)
class TestLogin:
    """A login for the system under test: connect with exactly this client id (it is bound to the login)."""

    __test__ = False  # not a pytest test class

    username: str
    password: str = field(repr=False)
    client_id: str
    role: str


@dataclass(frozen=True, slots=True)
class Recorded:
    """One message seen on the home's topics, with the simulated time it arrived at."""

    topic: str
    payload: bytes
    retain: bool
    at: float
    """Simulated time (seconds since the epoch) when it arrived."""
    ts: str
    """The same as the wire's ISO 8601 ``ts``."""

    def json(self) -> Any:
        return json.loads(self.payload)


class Messages:
    """A live view of the recorded messages whose topic matches a filter (a list that grows)."""

    def __init__(self, log: list[Recorded], topic_filter: str, changed: Callable[[], Awaitable[None]]) -> None:
        self._log = log
        self.topic_filter = topic_filter
        self._changed = changed

    async def wait(self, count: int = 1, *, timeout_s: float = 10.0) -> list[Recorded]:
        """Wait in real time (``timeout_s`` wall seconds) until at least ``count`` messages match:
        for what an outside client does between advances. AssertionError when they do not come."""
        try:
            async with asyncio.timeout(timeout_s):
                while len(self) < count:
                    await self._changed()
        except TimeoutError:
            msg = f"expected {count} messages on {self.topic_filter} within {timeout_s:g} s, got {len(self)}"
            raise AssertionError(msg) from None
        return self._matching()

    def _matching(self) -> list[Recorded]:
        return [m for m in self._log if not m.retain and topic_matches_sub(self.topic_filter, m.topic)]

    def __iter__(self) -> Iterator[Recorded]:
        return iter(self._matching())

    def __len__(self) -> int:
        return len(self._matching())

    def __getitem__(self, index: int) -> Recorded:
        return self._matching()[index]

    def __repr__(self) -> str:
        return f"Messages({self.topic_filter!r}, {len(self)} messages)"


class TestHome:
    """One running home in a test; see the module docstring."""

    __test__ = False

    def __init__(self, home: Home, controller: Controller, recorder: BusClient) -> None:
        self.home = home
        self._ctl = controller
        self._recorder = recorder
        self._log: list[Recorded] = []
        self._waiting: list[asyncio.Future[None]] = []
        assert home.credentials is not None
        self.credentials = home.credentials
        self.topics = home.topics
        recorder.add_tap(self._record)

    def _record(self, message: Message) -> None:
        if message.topic.startswith(f"{self.topics.base}/{SYNC}/"):
            return
        clock = self.home.clock
        self._log.append(Recorded(message.topic, message.payload, message.retain, clock.now(), clock.iso()))
        waiting, self._waiting = self._waiting, []
        for future in waiting:
            if not future.done():
                future.set_result(None)

    async def _next_message(self) -> None:
        """Return once the next message is recorded."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        await future

    # -- where and who -------------------------------------------------------------------------
    @property
    def url(self) -> BrokerUrl:
        return BrokerUrl(self.credentials.host, self.credentials.port)

    @property
    def id(self) -> str:
        """The home's id (``demo``): topics are ``{root}/{id}/...``."""
        return self.topics.home

    @property
    def root(self) -> str:
        return self.topics.root

    def login(self, role: str = "integration") -> TestLogin:
        """``controller`` (a user's tool) or ``integration`` (the system under test: a controller
        app's rights, its own login). Connect with ``client_id`` as given."""
        creds = self.credentials
        if role == "controller":
            login = creds.controller
        elif role == "integration":
            if creds.integration is None:
                msg = "this broker has no integration login (a broker by URL): use login('controller')"
                raise ConfigError(msg)
            login = creds.integration
        else:
            msg = f"no login for role {role!r} (known: {', '.join(ROLES)})"
            raise ConfigError(msg)
        return TestLogin(login.username, login.password, login.username, role)

    # -- state and commands --------------------------------------------------------------------
    @property
    def now(self) -> float:
        return self.home.clock.now()

    def iso(self) -> str:
        return self.home.clock.iso()

    def state(self, device: str) -> dict[str, Any]:
        """The device's current state (what its ``state`` topic says, as a dict)."""
        found = self.home.devices.get(device)
        if found is None:
            msg = f"no device {device!r} in home {self.id!r} (known: {', '.join(sorted(self.home.devices))})"
            raise ConfigError(msg)
        state: dict[str, Any] = found.state.model_dump(mode="json")
        return state

    async def send(
        self, device: str, command: str, args: dict[str, Any] | None = None, *, timeout_s: float = 10.0
    ) -> dict[str, Any]:
        """Send a command as the controller; its reply's result (CommandError on an error reply)."""
        return await self._ctl.send(device, command, args or {}, timeout_s=timeout_s)

    # -- time ----------------------------------------------------------------------------------
    @property
    def clock(self) -> ManualClock:
        clock = self.home.clock
        if not isinstance(clock, ManualClock):
            msg = f"the home runs a {clock.mode} clock: start it with clock='manual' to control time"
            raise ConfigError(msg)
        return clock

    async def advance(self, by: float | str, *, settle: float | str | None = None) -> Advanced:
        """Move simulated time (``"10m"``), waiting after every step until the home is quiet."""
        settle_s = None if settle is None else parse_duration(settle)
        return await self.clock.advance(by, settle_s=settle_s)

    async def wait_for(
        self,
        *,
        device: str,
        state: dict[str, Any] | None = None,
        event: str | None = None,
        where: dict[str, Any] | None = None,
        timeout: float | str,  # noqa: ASYNC109 - simulated time, the scenario files' word
    ) -> Any:
        """Let simulated time pass until ``device``'s state meets ``state`` or it sends ``event``
        (with ``where`` on its fields), at most ``timeout``; the constraints are the scenario
        files' (docs/scenarios.md: a bare value, or ``{min, max, approx, tolerance, one_of}``).
        Returns the state or the event; AssertionError saying what was seen otherwise."""
        if (state is None) == (event is None):
            msg = "wait_for: give exactly one of state and event"
            raise ConfigError(msg)
        checks = _checks(state or {}, "state")
        where_checks = _checks(where or {}, "where")
        start = len(self._log)
        found: list[Any] = []

        def met() -> bool:
            if event is None:
                current = self.state(device)
                if not failing(checks, current):
                    found.append(current)
                    return True
                return False
            topic = self.topics.event(device, event)
            for message in self._log[start:]:
                if message.topic == topic and not failing(where_checks, message.json()):
                    found.append(message.json())
                    return True
            return False

        seconds = parse_duration(timeout)
        clock = self.home.clock
        if isinstance(clock, ManualClock):
            done = await clock.advance_until(met, max=seconds)
            ok = done.met
        else:
            ok = await self._wait_virtual(met, seconds)
        if ok:
            return found[-1]
        if event is None:
            expected = f"{device} state {describe_checks(checks)}"
            wrong = failing(checks, self.state(device))
            seen = ", ".join(f"{k} = {show(v)}" for k, v in wrong.items())
        else:
            expected = f"event {device}/{event}" + (f" with {describe_checks(where_checks)}" if where_checks else "")
            seen = f"{sum(1 for m in self._log[start:] if m.topic == self.topics.event(device, event))} such event(s)"
        msg = f"expected {expected} within {format_duration(seconds)}; at {clock.iso()}: {seen}"
        raise AssertionError(msg)

    async def _wait_virtual(self, met: Any, seconds: float) -> bool:
        clock = self.home.clock
        try:
            async with clock.timeout(seconds):
                while not met():
                    await self._next_message()
        except TimeoutError:
            return bool(met())
        return True

    # -- traffic -------------------------------------------------------------------------------
    def messages(self, topic_filter: str = "#") -> Messages:
        """Every message published on the home's topics since the home started (retained copies
        left out) whose topic matches ``topic_filter``; a filter without the home's prefix
        (``living-ac/cmd/#``) is taken under it."""
        if not topic_filter.startswith(f"{self.topics.base}/"):
            topic_filter = f"{self.topics.base}/{topic_filter}"
        return Messages(self._log, topic_filter, self._next_message)


def _checks(raw: dict[str, Any], what: str) -> dict[str, Check]:
    try:
        return {name: Check.model_validate(value) for name, value in raw.items()}
    except ValidationError as exc:
        msg = f"wait_for {what}: {format_validation_error(exc)}"
        raise ConfigError(msg) from None


@contextlib.asynccontextmanager
async def start_home(
    home: str | Path = "demo",
    *,
    broker: str = "embedded",
    clock: ClockMode = "manual",
    settle: float | str = DEFAULT_SETTLE_S,
    automations: bool = True,
) -> AsyncIterator[TestHome]:
    """Bring a home up for a test (``home``: a shipped home's name or a home file's path)."""
    if clock not in ("manual", "virtual"):
        msg = f"clock must be 'manual' or 'virtual', not {clock!r}"
        raise ConfigError(msg)
    plan = load_home(str(home))
    settle_s = parse_duration(settle)
    async with Home(plan, broker=broker, manual=clock == "manual", settle_s=settle_s, automations=automations) as up:
        assert up.credentials is not None
        assert up.endpoint is not None
        seat = claim_seat(up.topics.home, up.credentials.controller)
        try:
            login = up.credentials.controller if seat is None else seat.login
            recorder = BusClient(up.endpoint, login, client_id=None if seat is None else seat.client_id)
            await recorder.subscribe(up.topics.everything, _nothing)
            async with recorder, up.controller(in_sim_time=False) as ctl:
                handle = TestHome(up, ctl, recorder)
                if isinstance(up.clock, VirtualClock) and not isinstance(up.clock, ManualClock):
                    await up.clock.settle()
                yield handle
        finally:
            if seat is not None:
                seat.release()


def _nothing(message: Message) -> None:
    return None
