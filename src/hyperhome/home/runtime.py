"""A running home: broker, clock, devices and orchestrator, as one async context manager.

```python
async with Home(load_home("demo")) as home:          # embedded broker, virtual time
    async with home.controller() as ctl:
        await ctl.send("living-ac", "set", {"power": True, "target_c": 24})
        await home.clock.sleep(3600)                 # an hour, in well under a second
```

``home_assistant="homeassistant"`` (a discovery prefix; or ``home_assistant: true`` in the home
file) makes every device publish Home Assistant discovery configs with its own login, and gives
the credentials a ``home_assistant`` login (docs/home-assistant.md).

``manual=True`` runs a ``ManualClock``: time stands still until ``home.clock.advance(...)``, and
after each step the home waits for quiet counting outside clients too, seen by a watcher: a
controller-seat connection outside the barrier subscribed to the home's topics (``clock.saw``).
The orchestrator then also answers ``$clock/cmd/advance`` (orchestrator/clockcmd.py).

``faults=True`` puts a fault proxy in front of each device's connection (``home.faults``,
``home/faults.py``); the orchestrator and controllers connect to the broker directly.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hyperhome.broker.client import BusClient, Connector, Endpoint, Message, MqttConnector
from hyperhome.broker.credentials import HomeCredentials
from hyperhome.broker.identity import claim_seat
from hyperhome.broker.launch import BrokerChoice, launch_broker
from hyperhome.broker.restart import Restartable, WhileDown
from hyperhome.broker.sync import SyncBarrier
from hyperhome.broker.topics import DEFAULT_HA_PREFIX, SYNC, Topics
from hyperhome.conventions import homeassistant
from hyperhome.conventions.zigbee2mqtt import Zigbee2MqttBridge
from hyperhome.devices import catalog
from hyperhome.devices.base import Device
from hyperhome.devices.clock import DEFAULT_SETTLE_S, Clock, ManualClock, VirtualClock, make_clock
from hyperhome.errors import ConfigError
from hyperhome.home.faults import HomeFaults
from hyperhome.home.grammarfile import load_grammar
from hyperhome.home.homefile import rules_of
from hyperhome.orchestrator.automations import Automations
from hyperhome.orchestrator.clockcmd import ClockCommands
from hyperhome.orchestrator.controller import Controller
from hyperhome.orchestrator.service import Orchestrator, Service
from hyperhome.orchestrator.voice import VoiceService
from hyperhome.tasks import first_error

if TYPE_CHECKING:
    from types import TracebackType

    from hyperhome.home.homefile import HomeFile


class Home:
    """One home brought up; see the module docstring.

    ``speed=None`` runs in virtual time (the default for tests and scenarios); a number runs
    scaled real time (1 = real time). ``broker`` is ``embedded``, ``mosquitto`` or a URL.
    ``grammar``: voice grammar files merged after the home file's (docs/voice.md).
    ``faults``: each device connects through its own fault proxy (``self.faults``).
    ``zigbee2mqtt``: run the Zigbee2MQTT bridge (``self.zigbee2mqtt``); None: as the home file says.
    ``credentials``: the home's logins, made by the caller (a fleet makes every home's before
    its broker starts) instead of fresh ones. ``connector``: how the home's clients connect in
    real time (a fleet counts their messages); ``MqttConnector`` by default.
    """

    def __init__(
        self,
        plan: HomeFile,
        *,
        broker: str | BrokerChoice = "embedded",
        port: int | None = None,
        speed: float | None = None,
        start: float | None = None,
        password: str | None = None,
        orchestrator: bool = True,
        grammar: Sequence[str | Path] = (),
        faults: bool = False,
        home_assistant: str | None = None,
        zigbee2mqtt: bool | None = None,
        credentials: HomeCredentials | None = None,
        connector: Callable[[Endpoint], MqttConnector] | None = None,
        manual: bool = False,
        settle_s: float = DEFAULT_SETTLE_S,
        automations: bool = True,
    ) -> None:
        self.plan = plan
        self.topics = Topics(plan.home, plan.root)
        self.choice = broker if isinstance(broker, BrokerChoice) else BrokerChoice.parse(broker)
        self._port = port
        self.clock: Clock = make_clock(speed, start, manual=manual, settle_s=settle_s)
        self._with_automations = automations
        self._password = password
        self._with_orchestrator = orchestrator
        self.grammar = load_grammar([*plan.voice.grammar, *grammar])  # a bad file fails here, before anything runs
        self._stack = contextlib.AsyncExitStack()
        self.credentials: HomeCredentials | None = None
        self.endpoint: Endpoint | None = None
        self.barrier: SyncBarrier | None = None
        self.connect: MqttConnector | None = None
        self.devices: dict[str, Device] = {}
        self.orchestrator: Orchestrator | None = None
        self._with_faults = faults
        self._given_credentials = credentials
        self._connector = connector
        self.faults: HomeFaults | None = None
        self._with_zigbee2mqtt = plan.zigbee2mqtt if zigbee2mqtt is None else zigbee2mqtt
        self.zigbee2mqtt: Zigbee2MqttBridge | None = None
        self.broker: Restartable | None = None
        """The broker this home started (``None`` on a broker given by URL)."""
        self.ha_prefix = home_assistant or (DEFAULT_HA_PREFIX if plan.home_assistant else None)
        """Home Assistant's discovery prefix when the home speaks MQTT discovery, else None."""
        self._hub_announced = asyncio.Event()
        """Set once the home's own discovery config is out (or there is none): devices' go after it."""
        self.discovery: dict[str, homeassistant.Discovery] = {}
        """Each client's discovery publisher (device ids, and ``$orchestrator`` for the home's own)."""

    async def __aenter__(self) -> Home:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stack.aclose()

    async def _start(self) -> None:
        plan, stack = self.plan, self._stack
        creds = self._given_credentials or HomeCredentials.generate(
            plan.home,
            [d.id for d in plan.devices],
            root=plan.root,
            password=self._password,
            zigbee2mqtt=self._with_zigbee2mqtt,
        )
        if self.ha_prefix is not None and self.choice.enforces_contract:
            creds.add_home_assistant(self.ha_prefix, homeassistant.commands(plan.devices), password=self._password)
        ready, self.broker = await stack.enter_async_context(launch_broker(self.choice, [creds], port=self._port))
        (creds,) = ready
        self.credentials = creds
        self.endpoint = endpoint = Endpoint.of(creds)
        await stack.enter_async_context(self.clock)
        if isinstance(self.clock, VirtualClock):
            # on a broker by URL the access control is the operator's: prove quiet by rounds only
            barrier = SyncBarrier(self.topics, endpoint, creds.clock, count_deliveries=self.choice.enforces_contract)
            self.barrier = await stack.enter_async_context(barrier)
            self.clock.add_barrier(self.barrier)
            stack.callback(self.clock.remove_barrier, self.barrier)
        if self._connector is not None and self.barrier is None:
            self.connect = self._connector(endpoint)
        else:
            self.connect = MqttConnector(endpoint, self.barrier)
        if isinstance(self.clock, ManualClock):
            await self._watch(self.clock)
        if self._with_faults:
            faults = HomeFaults(endpoint, [d.id for d in plan.devices], self.clock)
            self.faults = await stack.enter_async_context(faults)
            faults.attach(self.barrier, lambda device: d.bus if (d := self.devices.get(device)) else None)
        if not self._with_orchestrator:
            self._hub_announced.set()
        for spec in plan.devices:
            self.devices[spec.id] = catalog.kind(spec.kind)(spec, home=plan.home, clock=self.clock, topics=self.topics)
        await _all_or_none([self.start_device(d) for d in self.devices.values()])
        if creds.zigbee2mqtt is not None:
            bridge = Zigbee2MqttBridge(self.connect, creds.zigbee2mqtt, self.topics)
            self.zigbee2mqtt = await stack.enter_async_context(bridge)
        if self._with_orchestrator:
            connect: Connector = self.connect
            hub = None
            if self.ha_prefix is not None:
                name = plan.name or plan.home
                config = homeassistant.hub_config(plan.home, name, self.topics, self.ha_prefix)
                hub = await stack.enter_async_context(
                    homeassistant.Discovery("$orchestrator", [config], self.ha_prefix)
                )
                self.discovery["$orchestrator"] = hub
                connect = hub.attach(connect)
            self.orchestrator = await stack.enter_async_context(
                Orchestrator(
                    connect,
                    creds.orchestrator,
                    self.topics,
                    clock=self.clock,
                    residents=plan.residents,
                    services=self.services(),
                )
            )
            if hub is not None:
                await hub.listen()
            self._hub_announced.set()

    async def _watch(self, clock: ManualClock) -> None:
        """Feed ``clock.saw`` with every message on the home's topics, from a connection outside the
        barrier (a controller seat: a controller may subscribe to the whole home)."""
        assert self.credentials is not None
        assert self.endpoint is not None
        seat = claim_seat(self.topics.home, self.credentials.controller)
        login = self.credentials.controller if seat is None else seat.login
        if seat is not None:
            self._stack.callback(seat.release)
        clock.ignore(f"{self.topics.base}/{SYNC}/")

        def seen(message: Message) -> None:
            clock.saw(message.topic)

        watcher = BusClient(
            self.endpoint,
            login,
            client_id=None if seat is None else seat.client_id,
        )
        await watcher.subscribe(self.topics.everything, seen)
        await self._stack.enter_async_context(watcher)

    async def restart_broker(self, down_s: float = 0, *, while_down: WhileDown | None = None) -> None:
        """Take the home's broker down for ``down_s`` wall-clock seconds and bring it back on its port
        (``EmbeddedBroker.restart``, ``MosquittoBroker.restart``): retained messages and sessions are
        lost, and every client reconnects and republishes what it owns by itself. In virtual time the
        clock stands still until every client is back (docs/protocol.md, "Virtual time barrier").
        ConfigError on a broker given by URL, which is the operator's."""
        if self.broker is None:
            msg = f"the broker {self.choice.describe()} is not HyperHome's to restart"
            raise ConfigError(msg)
        await self.broker.restart(down_s, while_down=while_down)

    def services(self) -> list[Service]:
        """The orchestrator's services for this home (automations, voice), from the home file."""
        services: list[Service] = [Automations(rules_of(self.plan) if self._with_automations else [])]
        services.append(VoiceService(self.grammar, window_s=self.plan.voice.window_ms / 1000))
        if isinstance(self.clock, ManualClock):
            services.append(ClockCommands(self.clock))
        return services

    async def start_device(self, device: Device) -> None:
        assert self.credentials is not None
        assert self.connect is not None
        self._stack.push_async_callback(device.stop)  # first: a start cut short is stopped too
        connect: Connector = self.connect
        if self.faults is not None:
            connect = MqttConnector(self.faults.endpoint(device.id), self.barrier)
        discovery = None
        if self.ha_prefix is not None:
            configs = homeassistant.configs(device.spec, self.topics, self.ha_prefix)
            discovery = homeassistant.Discovery(device.id, configs, self.ha_prefix, after=self._hub_announced)
            await self._stack.enter_async_context(discovery)
            self.discovery[device.id] = discovery
            connect = discovery.attach(connect)
        await device.start(connect, self.credentials.device(device.id))
        if discovery is not None:
            await discovery.listen()

    def controller(self, *, in_sim_time: bool = True) -> Controller:
        """A controller client for this home (enter it with ``async with``).

        In virtual time it joins the barrier, and its reply timeouts count simulated seconds.
        """
        assert self.credentials is not None
        assert self.connect is not None
        return Controller(
            self.connect,
            self.credentials.controller,
            self.topics,
            clock=self.clock if in_sim_time else None,
            seats=self.credentials.seats,
        )


async def _all_or_none(starts: list[Coroutine[Any, Any, None]]) -> None:
    """Run ``starts`` together in a TaskGroup; when one fails, the others are cancelled and
    awaited before its error is raised as it is (not in an ExceptionGroup)."""
    try:
        async with asyncio.TaskGroup() as group:
            for start in starts:
                group.create_task(start)
    except* Exception as failed:
        raise first_error(failed) from None
