"""A controller client: what the CLI, the web API, tests and users' apps drive a home with.

It logs in with the home's controller credentials (publish ``+/cmd/#``, subscribe to the whole
home), in a seat of its own (``broker/identity.py``: a client id belongs to one login), keeps a
``Registry`` of the devices, and sends commands and waits for their replies::

    async with Controller(MqttConnector(endpoint), creds.controller, topics) as home:
        reply = await home.send("living-ac", "set", {"target_c": 24})
        flow_id = await home.start_flow("camera_handoff", {"call_device": "tablet", ...})
        status = await home.wait_flow(flow_id)      # the retained flow status, once it ended
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hyperhome.broker.client import Bus, Connector, Message
from hyperhome.broker.credentials import Login, client_id_of
from hyperhome.broker.identity import CONTROLLER_SEATS, claim_seat
from hyperhome.broker.topics import CONTROLLER, ORCHESTRATOR, Topics
from hyperhome.broker.wire import FlowStatus, OrchestratorMeta, Reply, decode
from hyperhome.orchestrator.registry import Registry
from hyperhome.orchestrator.requests import DEFAULT_REPLY_TIMEOUT_S, Requester, clock_bound

if TYPE_CHECKING:
    from types import TracebackType

    from hyperhome.devices.clock import Clock

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_REPLY_TIMEOUT_S", "Controller", "ended"]


def ended(status: FlowStatus) -> bool:
    """Whether a flow status (as ``Controller.flows`` holds it) is in a terminal state."""
    return status.state.terminal


class Controller:
    def __init__(
        self,
        connect: Connector,
        login: Login,
        topics: Topics,
        *,
        clock: Clock | None = None,
        client_id: str | None = None,
        seats: int = CONTROLLER_SEATS,
    ) -> None:
        """``seats``: how many controller seats the home holds (its ``HomeCredentials.seats``)."""
        self.topics = topics
        self.registry = Registry(topics)
        self.flows: dict[str, FlowStatus] = {}
        """Status of every flow the orchestrator published (retained), by flow id, as the wire
        type ``FlowStatus`` (a malformed one is ignored); ``model_dump(mode="json")`` gives its JSON."""
        self.orchestrator_meta: OrchestratorMeta | None = None
        """The orchestrator's retained ``$meta`` (the flow kinds it runs), once it arrived."""
        self._meta_changed = asyncio.Event()
        self._clock = clock
        self._bounded = clock_bound(clock)
        self._echoes: dict[str, asyncio.Future[None]] = {}
        self._flows_changed = asyncio.Event()
        # several controllers of a home may be connected at once (CLI, web API, a scenario run):
        # with HyperHome's logins each takes a seat, a login whose one client id is its own
        self._seat = None if client_id else claim_seat(topics.home, login, count=seats)
        if self._seat is not None:
            weakref.finalize(self, self._seat.release)
            login, client_id = self._seat.login, self._seat.client_id
        client_id = client_id or f"{client_id_of(topics.home, CONTROLLER)}-{secrets.token_hex(3)}"
        self.bus: Bus = connect(login, client_id=client_id)
        self.requests = Requester(self.bus, topics, bound=self._bounded)

    async def __aenter__(self) -> Controller:
        try:
            await self.registry.attach(self.bus)
            await self.requests.attach()
            await self.bus.subscribe(self.topics.flow("+"), self._on_flow)
            await self.bus.subscribe(self.topics.meta(ORCHESTRATOR), self._on_orchestrator_meta)
            await self.bus.subscribe(self.topics.sync(CONTROLLER), self._on_echo)
            await self.bus.__aenter__()
        except BaseException:
            self._release_seat()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self.bus.__aexit__(exc_type, exc, tb)
        finally:
            self._release_seat()

    @property
    def client_id(self) -> str:
        """This controller's MQTT client id (its seat's, with HyperHome's logins)."""
        return self.bus.client_id

    def _release_seat(self) -> None:
        if self._seat is not None:
            self._seat.release()

    # -- registry -----------------------------------------------------------------------------
    async def synced(self, timeout_s: float = 10.0) -> Registry:
        """Wait until every retained message the broker had for us has arrived.

        Publishes a nonce on the controller's own ``$sync`` topic and waits for it to come back:
        the broker delivers retained messages for a subscription before it handles our later publish.
        """
        nonce = secrets.token_hex(8)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._echoes[nonce] = future
        try:
            await self.bus.publish(self.topics.sync(CONTROLLER), {"echo": nonce})
            async with asyncio.timeout(timeout_s):
                await future
        finally:
            self._echoes.pop(nonce, None)
        return self.registry

    def _on_echo(self, message: Message) -> None:
        with contextlib.suppress(ValueError, AttributeError):
            future = self._echoes.get(str(message.json().get("echo")))
            if future is not None and not future.done():
                future.set_result(None)

    # -- commands -----------------------------------------------------------------------------
    async def request(
        self,
        device: str,
        command: str,
        args: dict[str, Any] | None = None,
        *,
        timeout_s: float = DEFAULT_REPLY_TIMEOUT_S,
        command_id: str | None = None,
    ) -> Reply:
        """Send a command and return its reply, whatever it says (TimeoutError if none comes)."""
        return await self.requests.request(device, command, args, timeout_s=timeout_s, command_id=command_id)

    async def send(
        self,
        device: str,
        command: str,
        args: dict[str, Any] | None = None,
        *,
        timeout_s: float = DEFAULT_REPLY_TIMEOUT_S,
    ) -> dict[str, Any]:
        """Send a command; return its result, or raise CommandError with the reply's code."""
        return await self.requests.send(device, command, args, timeout_s=timeout_s)

    # -- flows --------------------------------------------------------------------------------
    async def start_flow(
        self, kind: str, args: dict[str, Any] | None = None, *, timeout_s: float = DEFAULT_REPLY_TIMEOUT_S
    ) -> str:
        """Ask the orchestrator to start a flow; its id (CommandError if it refused)."""
        result = await self.send(ORCHESTRATOR, kind, args, timeout_s=timeout_s)
        return str(result["flow_id"])

    async def cancel_flow(self, flow_id: str, *, timeout_s: float = DEFAULT_REPLY_TIMEOUT_S) -> None:
        await self.send(ORCHESTRATOR, "flow.cancel", {"flow_id": flow_id}, timeout_s=timeout_s)

    async def wait_flow(
        self,
        flow_id: str,
        until: Callable[[FlowStatus], bool] | None = None,
        *,
        timeout_s: float = 60.0,
    ) -> FlowStatus:
        """Wait (in simulated time, when the controller has a clock) until the flow's status
        satisfies ``until`` (default: it ended); returns that status."""
        done = until or ended
        async with self._bounded(timeout_s):
            while True:
                status = self.flows.get(flow_id)
                if status is not None and done(status):
                    return status
                self._flows_changed.clear()
                await self._flows_changed.wait()

    def _on_flow(self, message: Message) -> None:
        ref = self.topics.parse(message.topic)
        if ref is None or ref.name is None:
            return
        if not message.payload:
            self.flows.pop(ref.name, None)
        else:
            try:
                status = decode(FlowStatus, message.payload)
            except ValueError as exc:  # PayloadError, ValidationError
                log.warning("ignoring a malformed status of flow %s: %s", ref.name, exc)
                return
            self.flows[ref.name] = status
        self._flows_changed.set()

    # -- the orchestrator ---------------------------------------------------------------------
    async def flow_kinds(self, *, timeout_s: float = DEFAULT_REPLY_TIMEOUT_S) -> frozenset[str]:
        """The flow kinds the orchestrator runs, from its retained ``$meta``; waits for it up to
        ``timeout_s`` (in simulated time with a clock), TimeoutError if no orchestrator said."""
        async with self._bounded(timeout_s):
            while self.orchestrator_meta is None:
                self._meta_changed.clear()
                await self._meta_changed.wait()
        return frozenset(self.orchestrator_meta.flows)

    def _on_orchestrator_meta(self, message: Message) -> None:
        if not message.payload:
            self.orchestrator_meta = None
            return
        try:
            self.orchestrator_meta = decode(OrchestratorMeta, message.payload)
        except ValueError as exc:
            log.warning("ignoring a malformed $meta of the orchestrator: %s", exc)
            return
        self._meta_changed.set()
