"""The orchestrator of one home: its own login, its availability, the registry, and the flows.

It answers flow commands on ``$orchestrator/cmd/{flow kind}`` (docs/flows.md) through the one
``CommandEndpoint`` every device uses too (a repeated command id gets the first reply again and
starts nothing), turns devices' ``event/intent`` into flows, and owns every flow's task
(cancelled when it stops). The registry is rebuilt from retained messages on every start.

Beside the flows it runs *services* (the ``Service`` protocol): parts such as automations and the
voice assistant that see every device event, may answer commands of their own on
``$orchestrator/cmd/{name}``, and start flows through ``prepare``/``launch``.

Nothing it owns is lost to a broker outage: flow statuses, its events and its replies go out
through an ``Outbox`` (broker/outbox.py), and after every (re)connect it announces itself online,
republishes the retained status of every flow it knows (a broker restarted without persistence
has none), sends what waited, and sends again the flows' commands that still wait for a reply;
clean-up commands wait in a ``Mailbox`` (mailbox.py) for their device to be online. When a device
announces ``$availability = online``, what waits for it is sent again too.
"""

from __future__ import annotations

import itertools
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hyperhome.broker.client import Bus, Connector, Message, Will
from hyperhome.broker.commands import CommandEndpoint
from hyperhome.broker.credentials import Login, client_id_of
from hyperhome.broker.outbox import Outbox
from hyperhome.broker.topics import ORCHESTRATOR, Topics
from hyperhome.broker.wire import OFFLINE, ONLINE, OrchestratorMeta, format_validation_error
from hyperhome.errors import CommandError, ErrorCode, NotConnectedError
from hyperhome.orchestrator.flows import KINDS
from hyperhome.orchestrator.flows.base import Flow, FlowContext
from hyperhome.orchestrator.mailbox import Mailbox
from hyperhome.orchestrator.registry import DeviceView, Registry
from hyperhome.orchestrator.requests import Requester, clock_bound
from hyperhome.tasks import TaskOwner

if TYPE_CHECKING:
    from types import TracebackType

    from hyperhome.devices.clock import Clock

log = logging.getLogger(__name__)

CANCEL = "flow.cancel"
STOP_TIMEOUT_S = 5.0


class CancelArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    flow_id: str = Field(min_length=1, max_length=64)


CommandHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
"""A service's command: the command's args in, the reply's result out; raises ``CommandError``."""


class Service(Protocol):
    """A part of the orchestrator beside the flows (automations, voice, ...)."""

    @property
    def commands(self) -> Mapping[str, CommandHandler]:
        """Commands it answers on ``$orchestrator/cmd/{name}`` (names must not clash with flow kinds)."""
        ...

    async def start(self, orchestrator: Orchestrator) -> None:
        """Called once the orchestrator is connected and subscribed (the registry may still fill)."""
        ...

    async def stop(self) -> None:
        """Called before the orchestrator cancels its flows and disconnects; must not wait on replies."""
        ...

    async def on_event(self, device: str, name: str, payload: dict[str, Any]) -> None:
        """Every device's ``event/{name}`` (a JSON object), in arrival order; must not raise."""
        ...


class Orchestrator:
    def __init__(
        self,
        connect: Connector,
        login: Login,
        topics: Topics,
        *,
        clock: Clock,
        residents: Iterable[str] = (),
        kinds: dict[str, type[Flow[Any]]] | None = None,
        services: Sequence[Service] = (),
    ) -> None:
        self.topics = topics
        self.clock = clock
        self.registry = Registry(topics)
        self.kinds = dict(KINDS if kinds is None else kinds)
        availability = topics.availability(ORCHESTRATOR)
        self.bus: Bus = connect(
            login,
            client_id=client_id_of(topics.home, ORCHESTRATOR),
            will=Will(availability, OFFLINE.encode()),
            on_connect=self._announce,
        )
        # command ids unique per orchestrator run: devices suppress an id seen in their last 1,000
        self.requests = Requester(
            self.bus, topics, bound=clock_bound(clock, drive=False), id_prefix=f"o{secrets.token_hex(3)}"
        )
        self.outbox = Outbox(self.bus)
        """Flow statuses, events and replies: kept while the broker is away, sent after."""
        self.mailbox = Mailbox(self.bus, topics, self.registry, self.requests)
        self.ctx = FlowContext(
            bus=self.bus,
            topics=topics,
            clock=clock,
            registry=self.registry,
            requests=self.requests,
            residents=frozenset(residents),
            outbox=self.outbox,
            mailbox=self.mailbox,
        )
        self.services = list(services)
        self._service_commands: dict[str, CommandHandler] = {}
        for service in self.services:
            for name, handler in service.commands.items():
                if name in self.kinds or name == CANCEL or name in self._service_commands:
                    msg = f"orchestrator command {name!r} is defined twice"
                    raise ValueError(msg)
                self._service_commands[name] = handler
        self.endpoint = CommandEndpoint(self._dispatch, send=self._send_reply, now=clock.iso, owner="the orchestrator")
        self._flow_ids = itertools.count(1)
        self._tasks = TaskOwner("orchestrator", logger=log)
        self.registry.on_change(self._on_device_change)

    @property
    def flows(self) -> dict[str, Flow[Any]]:
        """The running flows, by id."""
        return self.ctx.flows

    async def _announce(self) -> None:
        """After every (re)connect: its ``$meta``, online, then what a broker outage may have cost (see above)."""
        await self.bus.publish(self.topics.meta(ORCHESTRATOR), self.meta().to_payload(), retain=True)
        await self.bus.publish(self.topics.availability(ORCHESTRATOR), ONLINE, retain=True)
        await self.outbox.flush()
        await self.requests.resend()
        await self.mailbox.flush()

    def meta(self) -> OrchestratorMeta:
        """What the orchestrator runs, as its retained ``$meta`` says (docs/protocol.md)."""
        return OrchestratorMeta(
            home=self.topics.home, flows=sorted(self.kinds), commands=sorted([CANCEL, *self._service_commands])
        )

    async def emit(self, name: str, payload: dict[str, Any]) -> None:
        """Publish the orchestrator's ``event/{name}`` through the outbox (``ts`` comes first)."""
        await self.outbox.publish(self.topics.event(ORCHESTRATOR, name), {"ts": self.clock.iso(), **payload})

    async def __aenter__(self) -> Orchestrator:
        await self.registry.attach(self.bus)
        await self.requests.attach()
        await self.bus.subscribe(self.topics.cmd(ORCHESTRATOR, "#"), self.endpoint.on_message)
        await self.bus.subscribe(self.topics.all_of("event"), self._on_event)
        await self.bus.__aenter__()
        await self._tasks.open()
        started: list[Service] = []
        try:
            for service in self.services:
                await service.start(self)
                started.append(service)
        except BaseException:
            for service in reversed(started):
                await service.stop()
            await self._tasks.aclose()
            await self.bus.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for service in reversed(self.services):
            try:
                await service.stop()
            except Exception:
                log.exception("stopping orchestrator service %r failed", service)
        for flow in list(self.flows.values()):
            flow.cancel("the orchestrator stopped")
        # wall time: clean-up never waits on replies; a flow still ending then is cancelled again
        await self._tasks.aclose(grace_s=STOP_TIMEOUT_S, timeout_s=STOP_TIMEOUT_S)
        try:
            await self.bus.publish(self.topics.availability(ORCHESTRATOR), OFFLINE, retain=True)
        except NotConnectedError:
            pass
        await self.bus.__aexit__(exc_type, exc, tb)

    # -- starting flows ----------------------------------------------------------------------------
    def prepare(self, kind: str, args: dict[str, Any]) -> Flow[Any]:
        """Validate and authorise a flow; CommandError with the wire's error code if it may not start."""
        cls = self.kinds.get(kind)
        if cls is None:
            known = ", ".join(sorted([*self.kinds, CANCEL, *self._service_commands]))
            msg = f"the orchestrator has no flow {kind!r} (known: {known})"
            raise CommandError(ErrorCode.UNKNOWN_COMMAND, msg)
        try:
            parsed = cls.Args.model_validate(args)
        except ValidationError as exc:
            raise CommandError(ErrorCode.INVALID_ARGS, format_validation_error(exc)) from None
        if parsed.user is not None and parsed.user not in self.ctx.residents:
            msg = f"{parsed.user!r} is not a resident of {self.topics.home}"
            raise CommandError(ErrorCode.FORBIDDEN, msg)
        cls.check(parsed, self.ctx)
        return cls(self.ctx, f"f-{next(self._flow_ids)}", parsed)

    async def launch(self, flow: Flow[Any]) -> None:
        """Publish the flow's first status and start its task (owned by the orchestrator)."""
        self.flows[flow.id] = flow
        await flow.publish()
        # the event, then the task: its first status (running) goes out after the reply to the
        # command that started it (sent when this returns), as a client reading both expects
        await self.emit("flow_started", {"flow_id": flow.id, "kind": flow.kind})
        flow.task = self._tasks.spawn(
            flow.main(),
            name=f"flow:{flow.id}:{flow.kind}",
            failure=f"flow {flow.id} ended with an error",
            on_done=lambda _: self.flows.pop(flow.id, None),
        )
        if flow.task is None:  # the orchestrator is stopping: the flow never starts
            self.flows.pop(flow.id, None)

    # -- commands ----------------------------------------------------------------------------------
    async def _dispatch(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        """What the command endpoint calls: ``flow.cancel``, a service's command, or a flow kind."""
        if name == CANCEL:
            return self._cancel(args)
        service_command = self._service_commands.get(name)
        if service_command is not None:
            return await service_command(args)
        flow = self.prepare(name, args)
        await self.launch(flow)
        return {"flow_id": flow.id}

    def _cancel(self, args: dict[str, Any]) -> dict[str, Any]:
        try:
            flow_id = CancelArgs.model_validate(args).flow_id
        except ValidationError as exc:
            raise CommandError(ErrorCode.INVALID_ARGS, format_validation_error(exc)) from None
        flow = self.flows.get(flow_id)
        if flow is None or not flow.cancel("cancelled by request"):
            raise CommandError(ErrorCode.REJECTED, f"no running flow {flow_id!r}")
        return {"flow_id": flow_id, "cancelled": True}

    async def _send_reply(self, payload: bytes) -> None:
        await self.outbox.publish(self.topics.reply(ORCHESTRATOR), payload)

    # -- device events and intents -------------------------------------------------------------------
    async def _on_event(self, message: Message) -> None:
        ref = self.topics.parse(message.topic)
        if ref is None or ref.name is None or ref.device.startswith("$"):
            return
        try:
            payload = message.json()
        except ValueError:
            return
        if not isinstance(payload, dict):
            return
        if ref.name == "intent":
            await self._on_intent(ref.device, payload)
        self.ctx.dispatch_event(ref.device, ref.name, payload)
        for service in self.services:
            try:
                await service.on_event(ref.device, ref.name, payload)
            except Exception:
                log.exception("orchestrator service %r failed on %s/event/%s", service, ref.device, ref.name)

    async def _on_intent(self, device: str, payload: dict[str, Any]) -> None:
        intent, user, args = payload.get("intent"), payload.get("user"), payload.get("args") or {}
        reason: str | None = None
        if not isinstance(intent, str) or not isinstance(args, dict):
            reason = "malformed intent"
        elif user is None or user not in self.ctx.residents:
            reason = f"{user!r} is not a resident of {self.topics.home}"
        elif user != (owner := self._owner_of(device)):
            # a device speaks for its owner only: a forged intent from another login must not act
            reason = f"{device} may only ask on behalf of its owner ({owner or 'it has none'}), not {user!r}"
        else:
            try:
                flow = self.prepare(intent, {**args, "user": user})
            except CommandError as exc:
                reason = exc.message
            else:
                await self.launch(flow)
                return
        await self.emit("intent_refused", {"device": device, "intent": intent, "user": user, "reason": reason})

    def _owner_of(self, device: str) -> str | None:
        view = self.registry.devices.get(device)
        return view.meta.owner if view is not None and view.meta is not None else None

    def _on_device_change(self, view: DeviceView, what: str) -> None:
        if what == "$availability" and view.online:
            self._tasks.spawn(self._device_back(view.id), failure=f"resending to {view.id} failed")

    async def _device_back(self, device: str) -> None:
        """``device`` announced itself online (back from an outage, or the broker's retained copy
        after ours): what it may have missed is sent again."""
        await self.requests.resend(device)
        await self.mailbox.flush(device)
