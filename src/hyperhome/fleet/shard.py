"""A shard: some homes of a fleet living their planned days in one event loop.

```python
shard = Shard(spec)
async with asyncio.TaskGroup() as group:
    group.create_task(shard.run())         # until cancelled
    ...                                    # shard.snapshot() whenever, e.g. once a second
```

Each home is a full ``Home`` (home/runtime.py): its devices, each its own MQTT connection and
login, its orchestrator with the template's automations and voice assistant, in scaled real time
on a clock of its own that starts at the moment it joins its day (fleet/plan.py). Next to it a
*driver*, the home's controller client, carries out the plan's steps (commands, flows) and counts
what the broker shows of the home: every reply (errors too), every flow's status, every device's
``$availability``. Every device also republishes its retained state every ``state_every_s`` wall
seconds, spread evenly (the load of ``hyperhome bench density``); how late each of those is
acknowledged (due time to PUBACK) is the publish lag.

Homes start at ``ramp`` homes per second, so that the broker is not hit by every CONNECT at
once, and at most ``STARTING_AT_ONCE`` of a shard at a time: a worker too loaded to keep the
ramp's pace slows its own ramp instead of letting its connects time out. A home whose start
fails all the same (a connect refused or timed out) is tried again, ``START_ATTEMPTS`` times in
all, a few seconds apart; only then is it counted an error. Once all are up, the heap built so
far is frozen (``gc.freeze()``), as ``hyperhome up`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hyperhome.broker.client import Acked, BusClient, Endpoint, Message, MqttConnector, Payload
from hyperhome.broker.credentials import ClientLogins, HomeCredentials, Login, TlsFiles, client_id_of
from hyperhome.broker.launch import BrokerChoice
from hyperhome.broker.topics import CONTROLLER, Topics
from hyperhome.broker.wire import TERMINAL_STATES
from hyperhome.devices.base import Device
from hyperhome.errors import HyperHomeError
from hyperhome.fleet import homes
from hyperhome.fleet.plan import HomePlan, Join, Step, plan_home
from hyperhome.fleet.stats import Stats
from hyperhome.home.homefile import HomeFile
from hyperhome.home.runtime import Home
from hyperhome.limits import raise_open_files_limit
from hyperhome.orchestrator.controller import Controller
from hyperhome.tasks import TaskOwner

log = logging.getLogger(__name__)

REPLY_TIMEOUT_S = 15.0
"""Wall seconds a driver waits for a command's reply before counting it an error."""
MAX_FPS = 30.0
STARTING_AT_ONCE = 8
"""Homes of one shard starting (connecting, subscribing, announcing) at the same time: enough
to keep a ramp of hundreds a second going, few enough that one start's connects stay far inside
their bound on a saturated worker."""
START_ATTEMPTS = 3
"""Tries of one home's start before it is counted an error."""
START_RETRY_S = 2.0
"""Wall seconds before a failed home start is tried again (twice that before the third)."""


class BrokerSpec(BaseModel):
    """Where a shard's clients connect, and with which logins (JSON: it goes to other processes)."""

    model_config = ConfigDict(extra="forbid")

    host: str
    port: int
    secret: str | None = Field(None, repr=False)
    """The fleet secret every login's password is derived from (a broker HyperHome runs)."""
    username: str | None = None
    password: str | None = Field(None, repr=False)
    """One login for every client (a broker URL's)."""
    logins: ClientLogins | None = Field(None, repr=False)
    """A login per client of a home (a broker URL's ``--logins FILE``), the same in every home."""
    tls: TlsFiles | None = None


class ShardSpec(BaseModel):
    """Everything a shard needs: JSON, for a worker process or a Ray actor."""

    model_config = ConfigDict(extra="forbid")

    name: str
    template: dict[str, Any]
    homes: list[tuple[int, str]]
    seed: int
    days: int = 1
    join: Join = "episode"
    """When each home joins its day (fleet/plan.py)."""
    speed: float = 1.0
    ramp: float = 50.0
    """Homes started per second by this shard."""
    state_every_s: float = 10.0
    """Wall seconds between one device's state republishes (0: none)."""
    max_fps: float = Field(MAX_FPS, gt=0, le=MAX_FPS)
    """Camera frames a call gets per wall second at most, whatever the speed."""
    broker: BrokerSpec


@dataclass
class _Driven:
    """One running home and its driver's view of it."""

    home: Home
    controller: Controller
    flows: dict[str, str] = field(default_factory=dict)  # flow id -> last state seen


class _Started(contextlib.AsyncExitStack):
    """A started home's contexts (its ``Home``, then its driver), closed in reverse."""

    driven: _Driven


@dataclass(frozen=True, slots=True)
class CountingConnector(MqttConnector):
    """``MqttConnector`` whose clients count their messages into ``stats``."""

    stats: Stats = field(default_factory=Stats)

    def __call__(self, login: Login, **kwargs: Any) -> BusClient:
        bus = _CountingBus(self.transport, login, observer=self.observer, **kwargs)
        bus.stats = self.stats
        bus.add_tap(bus.count_in)
        return bus


def counting(stats: Stats) -> Any:
    def make(endpoint: Endpoint) -> MqttConnector:
        return CountingConnector(endpoint, stats=stats)

    return make


class _CountingBus(BusClient):
    """Counts what it sends and receives; a publish that fails is counted once the client has
    been connected (before that, it is the start of its home that failed, and was retried)."""

    stats: Stats
    _was_connected = False

    def count_in(self, _message: Message) -> None:
        self.stats.counts["msgs_in"] += 1

    async def publish(self, topic: str, payload: Payload = None, *, qos: int = 1, retain: bool = False) -> None:
        with self._counted():
            await super().publish(topic, payload, qos=qos, retain=retain)

    def publish_nowait(
        self, topic: str, payload: Payload = None, *, qos: int = 1, retain: bool = False, acked: Acked | None = None
    ) -> None:
        with self._counted():
            super().publish_nowait(topic, payload, qos=qos, retain=retain, acked=acked)

    @contextlib.contextmanager
    def _counted(self) -> Iterator[None]:
        """One message out, or one failed publish (once the client has been connected)."""
        self._was_connected = self._was_connected or self.connected
        try:
            yield
        except HyperHomeError:
            if self._was_connected or self.connected:
                self.stats.counts["publish_failed"] += 1
            raise
        self.stats.counts["msgs_out"] += 1


class Shard:
    """See the module docstring."""

    def __init__(self, spec: ShardSpec) -> None:
        self.spec = spec
        self.template: HomeFile = homes.template_from_json(spec.template)
        self.stats = Stats()
        self.stats.add("homes", len(spec.homes))
        self.stats.add("devices", len(spec.homes) * len(self.template.devices))
        self.plans = [plan_home(spec.seed, i, h, self.template, days=spec.days, join=spec.join) for i, h in spec.homes]
        self._running: dict[str, _Driven] = {}
        self.all_up = asyncio.Event()
        self._beats = TaskOwner(f"fleet:{spec.name}:beats", logger=log)
        self._stopping = False
        self._starting = asyncio.Semaphore(STARTING_AT_ONCE)

    def snapshot(self) -> dict[str, Any]:
        """The counters now; ``devices_online`` as the homes' controllers see it (once stopped:
        as it was last seen before)."""
        if not self._stopping:
            self.stats.devices_online = sum(
                sum(1 for view in d.controller.registry.devices.values() if view.online) for d in self._running.values()
            )
        return self.stats.snapshot(self.spec.name)

    async def run(self) -> None:
        """Start the homes at the ramp's pace, then keep them living until cancelled."""
        raise_open_files_limit(self.stats.counts["devices"] + 2 * len(self.plans) + 256)
        await self._beats.open()
        try:
            async with asyncio.TaskGroup() as group:
                try:
                    await self._start_homes(group)
                    await asyncio.Event().wait()  # the homes live until the shard is cancelled
                finally:
                    self._stopping = True  # what is online is what was seen before stopping
        finally:
            await self._beats.aclose()

    async def _start_homes(self, group: asyncio.TaskGroup) -> None:
        loop = asyncio.get_running_loop()
        began = loop.time()
        ups: list[asyncio.Future[None]] = []
        for k, plan in enumerate(self.plans):
            up: asyncio.Future[None] = loop.create_future()
            ups.append(up)
            delay = k / self.spec.ramp if self.spec.ramp > 0 else 0.0
            group.create_task(self._live(plan, began + delay, up), name=f"home:{plan.home}")
        await asyncio.gather(*ups, return_exceptions=True)
        gc.collect()
        gc.freeze()  # what start-up built lives on: keep it out of every full collection
        self.all_up.set()

    async def _live(self, plan: HomePlan, start_at: float, up: asyncio.Future[None]) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, start_at - loop.time()))
        try:
            async with await self._start(plan) as stack:
                driven: _Driven = stack.driven
                running = driven.home
                self.stats.add("homes_up")
                up.set_result(None)
                self._heartbeat(running)
                await self._drive(driven, plan)
                await asyncio.Event().wait()  # the plan is done; the home lives on until stopped
        except HyperHomeError as exc:
            self.stats.error(f"{plan.home}: {exc}")
            log.warning("home %s stopped: %s", plan.home, exc)
        finally:
            self._running.pop(plan.home, None)
            if not up.done():
                up.set_result(None)

    async def _start(self, plan: HomePlan) -> _Started:
        """The home and its driver, up: one of ``STARTING_AT_ONCE``, tried ``START_ATTEMPTS`` times."""
        for attempt in range(1, START_ATTEMPTS + 1):
            stack = _Started()
            try:
                async with self._starting:
                    running = await stack.enter_async_context(self._home(plan))
                    stack.driven = await stack.enter_async_context(self._driver(running))
            except HyperHomeError as exc:
                await stack.aclose()
                if attempt == START_ATTEMPTS:
                    raise
                self.stats.add("home_start_retries")
                log.info("home %s did not start (%s): trying again", plan.home, exc)
                await asyncio.sleep(START_RETRY_S * attempt)
            except BaseException:
                await stack.aclose()
                raise
            else:
                return stack
        raise AssertionError  # the last attempt returned or raised

    def _home(self, plan: HomePlan) -> Home:
        b = self.spec.broker
        creds = _logins(homes.credentials(self.template, plan.home, b.secret or ""), b)
        choice = BrokerChoice("url", b.host, b.port, tls=b.tls)
        return Home(
            homes.home_file(self.template, plan, call_fps=self._fps()),
            broker=choice,
            speed=self.spec.speed,
            start=plan.joined,
            credentials=creds,
            connector=counting(self.stats),
        )

    @contextlib.asynccontextmanager
    async def _driver(self, running: Home) -> Any:
        assert running.connect is not None
        assert running.credentials is not None
        topics = running.topics
        ctl = Controller(
            running.connect,
            running.credentials.controller,
            topics,
            client_id=client_id_of(topics.home, CONTROLLER),
        )
        driven = _Driven(running, ctl)
        await ctl.bus.subscribe(topics.all_of("reply"), self._on_reply)
        await ctl.bus.subscribe(topics.flow("+"), lambda m: self._on_flow(driven, topics, m))
        async with ctl:
            self._running[topics.home] = driven
            yield driven

    def _on_reply(self, message: Message) -> None:
        self.stats.add("replies_seen")
        with contextlib.suppress(ValueError, AttributeError):
            reply = message.json()
            if reply.get("ok") is False:
                self.stats.add("error_replies_seen")
                error = reply.get("error") or {}
                self.stats.error(
                    f"{message.topic}: {reply.get('command')}: {error.get('code')}: {error.get('message')}"
                )

    def _on_flow(self, driven: _Driven, topics: Topics, message: Message) -> None:
        ref = topics.parse(message.topic)
        if ref is None or ref.name is None or not message.payload:
            return
        try:
            status = message.json()
            state, kind = str(status["state"]), str(status["kind"])
        except (ValueError, KeyError, TypeError):
            return
        before = driven.flows.get(ref.name)
        driven.flows[ref.name] = state
        if before == state:
            return
        terminal = state in TERMINAL_STATES
        if before is None and not terminal:
            self.stats.add("flows_started")
            self.stats.flow_kinds[f"{kind}:started"] += 1
        elif before is not None and before not in TERMINAL_STATES and terminal:
            self.stats.add(f"flows_{state}")
            self.stats.flow_kinds[f"{kind}:{state}"] += 1
            if state == "failed":
                self.stats.error(f"{topics.home}: flow {kind} {ref.name} failed: {status.get('error')}")

    async def _drive(self, driven: _Driven, plan: HomePlan) -> None:
        clock = driven.home.clock
        for step in plan.steps():
            await clock.sleep_until(step.at)
            await self._step(driven, self._scaled(step))

    def _fps(self, wanted: float = MAX_FPS) -> float:
        """Simulated frames per second that come at most ``max_fps`` a wall second, whatever the speed."""
        return round(max(0.1, min(wanted, self.spec.max_fps) / self.spec.speed), 3)

    def _scaled(self, step: Step) -> Step:
        if step.flow == "camera_handoff":
            fps = self._fps(float(step.args.get("fps", MAX_FPS)))
            return Step(step.at, step.device, step.command, {**step.args, "fps": fps})
        return step

    async def _step(self, driven: _Driven, step: Step) -> None:
        self.stats.add("commands")
        try:
            reply = await driven.controller.request(step.device, step.command, step.args, timeout_s=REPLY_TIMEOUT_S)
        except (TimeoutError, HyperHomeError) as exc:
            self.stats.add("error_replies")
            self.stats.error(f"{driven.home.topics.home}: {step.device} {step.command}: no reply ({exc or 'timeout'})")
            return
        if not reply.ok:
            self.stats.add("error_replies")
            why = reply.error.message if reply.error else "?"
            self.stats.error(f"{driven.home.topics.home}: {step.device} {step.command}: {why}")

    def _heartbeat(self, running: Home) -> None:
        """Republish every device's state each ``state_every_s``, the fleet's devices evenly spread."""
        period = self.spec.state_every_s
        if period <= 0:
            return
        loop = asyncio.get_running_loop()
        total = max(1, self.stats.counts["devices"])
        base = len(self._running) * len(running.devices)
        for k, device in enumerate(running.devices.values()):
            phase = period * ((base + k) % total) / total
            now = loop.time()
            due = now - ((now - phase) % period) + period
            self._schedule(device, due)

    def _schedule(self, device: Device, due: float) -> None:
        asyncio.get_running_loop().call_at(due, self._beat, device, due)

    def _beat(self, device: Device, due: float) -> None:
        if self._stopping or device.bus is None:  # the shard or the device stopped
            return
        self._schedule(device, due + self.spec.state_every_s)
        self.stats.add("beats_due")
        self._beats.spawn(self._publish(device, due), failure=f"state of {device.id}")

    async def _publish(self, device: Device, due: float) -> None:
        try:
            await device.publish_state()
        except HyperHomeError:
            return  # counted by the bus; the device reconnects and publishes on its own
        self.stats.add("beats_done")
        self.stats.lag_s(asyncio.get_running_loop().time() - due)


def _logins(creds: HomeCredentials, broker: BrokerSpec) -> HomeCredentials:
    """A home's logins on the fleet's broker: derived (``secret``), one for all, or a logins file's."""
    if broker.logins is not None:
        return broker.logins.apply(creds)
    if broker.username is not None:
        login = Login(username=broker.username, password=broker.password or "")
        return creds.model_copy(
            update={
                "controller": login,
                "orchestrator": login,
                "clock": login,
                "devices": dict.fromkeys(creds.devices, login),
            }
        )
    return creds
