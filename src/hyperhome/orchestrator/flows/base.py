"""The flow engine: async state machines the orchestrator runs on a home's devices.

A flow kind is a subclass of ``Flow`` with a pydantic ``Args`` model and a ``run`` method::

    class Demo(Flow[DemoArgs]):
        kind = "demo"
        Args = DemoArgs

        @classmethod
        def check(cls, args: DemoArgs, ctx: FlowContext) -> None:
            if not ctx.online(args.device):                 # refused before the reply
                msg = f"{args.device} is offline"
                raise CommandError(ErrorCode.REJECTED, msg)

        async def run(self) -> dict[str, Any]:
            async with self.abort_if_offline(self.args.device):     # Interrupted if it drops
                async with self.step("lease"):
                    lease = await self.command(self.args.device, "stream.start", {...})
                await self.wait_until(lambda reg: ..., timeout_s=5, what="frames at the sink")
            return {"lease": lease["lease"]}                 # the result: state succeeded

What the engine does for every flow:

- status, retained on ``$orchestrator/flow/{id}``, republished at every change (a step starting or
  ending, the result, the end): ``pending`` -> ``running`` -> ``succeeded`` | ``failed`` |
  ``cancelled``; ``flow_started`` and ``flow_ended`` events. Both go out through the
  orchestrator's outbox (broker/outbox.py): what could not be published during a broker outage
  is sent after the reconnect, in order, and every flow's latest status is republished then;
- ``FlowFailed(reason)`` (raise it, or ``self.fail(reason)``) ends the flow ``failed`` with that
  reason; any other exception ends it ``failed`` with ``internal error: ...``; a step open when the
  flow fails is marked failed;
- ``cancel()`` (``flow.cancel``, or the orchestrator stopping) cancels the task; the flow's
  ``cleanup()`` runs, the flow ends ``cancelled`` and the cancellation is re-raised;
  ``cleanup()`` also runs after a failure. It must not wait for replies: use ``deliver`` (kept
  for a device that is offline until it is back, orchestrator/mailbox.py) or ``tell``;
- a kind's ``check`` refuses with ``CommandError`` (the one wire error, ``hyperhome.errors``),
  also when a running flow of the kind holds the same target (``ctx.running(Kind)``, naming it);
  or the new flow takes over with ``old.replace(new)``: the old one's result says
  ``ended_because: replaced`` and ``replaced_by`` (docs/flows.md, "A second flow on the same target");
- every wait is bounded in simulated time (``clock.timeout``). Flow waits are *passive*
  (``drive=False``): like a device's timers, they never make virtual time move by themselves, so
  a flow advances while a test, a scenario or ``Controller.wait_flow`` lets time run.

Helpers: ``command`` (send and await the reply; FlowFailed on an error reply or no reply; during
a broker outage it waits for the connection and is sent again after it, within its bound),
``tell`` (send, do not wait; lost if the device is not there), ``deliver`` (a clean-up command
that reaches the device, now or when it is back online), ``wait_until`` (a registry condition,
bounded), ``expect_event`` + ``within`` (a device event, bounded), ``abort_when`` /
``abort_if_offline`` (interrupt the body with ``Interrupted`` when a condition turns true, e.g.
``$availability = offline``),
``subscribe`` (any topic of the home, unsubscribed when the flow ends), ``sleep``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar, Generic, NoReturn, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from hyperhome.broker.client import Bus, Handler
from hyperhome.broker.outbox import Outbox
from hyperhome.broker.topics import NAME_PATTERN, ORCHESTRATOR, Topics
from hyperhome.broker.wire import FlowState, FlowStatus, FlowStep
from hyperhome.errors import CommandError, NotConnectedError
from hyperhome.orchestrator.mailbox import Mailbox, Undo
from hyperhome.orchestrator.registry import DeviceView, Registry
from hyperhome.orchestrator.requests import Requester

if TYPE_CHECKING:
    from hyperhome.devices.clock import Clock

log = logging.getLogger(__name__)

DEFAULT_COMMAND_TIMEOUT_S = 5.0


class FlowArgs(BaseModel):
    """Base of every flow kind's args: unknown keys are an error; ``user`` is common to all."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    user: str | None = Field(None, pattern=NAME_PATTERN)
    """The resident on whose behalf the flow runs (must be one of the home's residents)."""


class FlowFailed(Exception):
    """Raise inside a flow: it ends ``failed`` with this human-readable reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Interrupted(Exception):
    """Raised out of ``abort_when`` when its condition turned true; ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


A = TypeVar("A", bound=FlowArgs)
F = TypeVar("F", bound="Flow[Any]")


Step = FlowStep
"""A step of a flow (what ``Flow.step`` yields): the wire's ``FlowStep``."""


class FlowContext:
    """What a flow gets from its orchestrator: the bus, the registry, the clock, the residents."""

    def __init__(
        self,
        *,
        bus: Bus,
        topics: Topics,
        clock: Clock,
        registry: Registry,
        requests: Requester,
        residents: frozenset[str],
        outbox: Outbox | None = None,
        mailbox: Mailbox | None = None,
    ) -> None:
        self.bus = bus
        self.topics = topics
        self.clock = clock
        self.registry = registry
        self.requests = requests
        self.residents = residents
        self.outbox = outbox or Outbox(bus)
        """Where flow statuses and events go out (kept while the broker is away)."""
        self.mailbox = mailbox or Mailbox(bus, topics, registry, requests)
        """Clean-up commands, kept per device until it answers."""
        self.flows: dict[str, Flow[Any]] = {}
        """Flows still running, by id (a flow may look up another, e.g. to take over a lease)."""
        self._event_listeners: list[Callable[[str, str, dict[str, Any]], None]] = []

    # -- what checks ask ---------------------------------------------------------------------
    def view(self, device: str) -> DeviceView | None:
        return self.registry.get(device)

    def online(self, device: str) -> bool:
        view = self.registry.get(device)
        return view is not None and view.online

    def owner(self, device: str) -> str | None:
        view = self.registry.get(device)
        return view.meta.owner if view is not None and view.meta is not None else None

    def running(self, kind: type[F], *, before: Flow[Any] | None = None) -> list[F]:
        """The running flows of ``kind`` (not ended, not being replaced), oldest first; with
        ``before``, only those started before that flow."""
        found: list[F] = []
        for flow in self.flows.values():
            if flow is before:
                break
            if isinstance(flow, kind) and flow.running:
                found.append(flow)
        return found

    # -- device events -------------------------------------------------------------------------
    def listen(self, listener: Callable[[str, str, dict[str, Any]], None]) -> Callable[[], None]:
        """Call ``listener(device, event, payload)`` for every device event; returns the remover."""
        self._event_listeners.append(listener)
        return lambda: self._event_listeners.remove(listener) if listener in self._event_listeners else None

    def dispatch_event(self, device: str, name: str, payload: dict[str, Any]) -> None:
        for listener in list(self._event_listeners):
            try:
                listener(device, name, payload)
            except Exception:
                log.exception("flow event listener failed")

    # -- clean-up that outlives its flow ----------------------------------------------------------
    async def deliver(self, device: str, command: str, args: dict[str, Any] | None = None) -> None:
        """Send a clean-up command that must reach ``device``: now, or when it is back online."""
        await self.mailbox.deliver(device, command, args)


class Flow(Generic[A]):
    """One running flow; subclass it per flow kind (see the module docstring)."""

    kind: ClassVar[str]
    Args: ClassVar[type[FlowArgs]]

    def __init__(self, ctx: FlowContext, flow_id: str, args: A) -> None:
        self.ctx = ctx
        self.id = flow_id
        self.args = args
        self.user = args.user
        self.state = FlowState.PENDING
        self.steps: list[FlowStep] = []
        self.started = ctx.clock.iso()
        self.ended: str | None = None
        self.error: str | None = None
        self.result: dict[str, Any] | None = None
        self.task: asyncio.Task[None] | None = None
        self.replaced_by: str | None = None
        """The flow of the same kind that took over what this one held (see ``replace``)."""
        self._cancel_reason: str | None = None
        self._changed = asyncio.Event()
        self._cleanups: list[Callable[[], None]] = []
        self._subscriptions: list[tuple[str, Handler]] = []
        self._aborts: list[Callable[[], None]] = []

    # -- what a flow kind writes ------------------------------------------------------------
    @classmethod
    def check(cls, args: A, ctx: FlowContext) -> None:
        """Refuse to start when the flow cannot or may not run now: raise ``CommandError`` with
        ``ErrorCode.REJECTED`` (not now: a device offline, a running flow of the kind holds the
        target) or ``ErrorCode.FORBIDDEN`` (this user or device may not)."""

    async def run(self) -> dict[str, Any] | None:
        """The flow itself; its return value is the result."""
        raise NotImplementedError

    async def cleanup(self) -> None:
        """Release what the flow holds after a failure or a cancellation (never wait for replies)."""

    # -- shorthands ------------------------------------------------------------------------------
    @property
    def clock(self) -> Clock:
        return self.ctx.clock

    @property
    def registry(self) -> Registry:
        return self.ctx.registry

    def fail(self, reason: str) -> NoReturn:
        raise FlowFailed(reason)

    # -- status ------------------------------------------------------------------------------------
    def status(self) -> FlowStatus:
        """The flow's status as it is published now (its steps are the flow's own)."""
        return FlowStatus(
            id=self.id,
            kind=self.kind,
            state=self.state,
            args=self.args.model_dump(mode="json", exclude={"user"}),
            user=self.user,
            steps=list(self.steps),
            started=self.started,
            ended=self.ended,
            error=self.error,
            result=self.result,
        )

    async def publish(self) -> None:
        """Publish the status (retained) through the outbox: without a connection it is sent after
        the reconnect (only the newest status of the flow, if it changed meanwhile)."""
        await self.ctx.outbox.publish(self.ctx.topics.flow(self.id), self.status().to_payload(), retain=True)

    async def set_result(self, **values: Any) -> None:
        """Add to the result (visible while the flow still runs) and publish."""
        self.result = {**(self.result or {}), **values}
        await self.publish()

    @contextlib.asynccontextmanager
    async def step(self, name: str, **detail: Any) -> AsyncIterator[FlowStep]:
        """A named step: published when it starts and when it ends (done, or failed on an error)."""
        step = FlowStep(name=name, ts=self.clock.iso(), detail=dict(detail))
        self.steps.append(step)
        await self.publish()
        try:
            yield step
        except BaseException:
            step.state, step.ts = "failed", self.clock.iso()
            raise
        step.state, step.ts = "done", self.clock.iso()
        await self.publish()

    # -- talking to devices ------------------------------------------------------------------------
    async def command(
        self,
        device: str,
        command: str,
        args: dict[str, Any] | None = None,
        *,
        timeout_s: float = DEFAULT_COMMAND_TIMEOUT_S,
        undo_late: Undo | None = None,
    ) -> dict[str, Any]:
        """Send a command and return its result; FlowFailed on an error reply or no reply in time.

        ``timeout_s`` bounds it all, in simulated time: while the orchestrator has no connection
        the command waits for one, and after a reconnect, or when ``device`` announces itself
        online again, it is sent again with the same id (applied once: docs/protocol.md).
        ``undo_late``: when no reply came in time, the device may still apply it (a slow link);
        if its ok reply comes later, the clean-up this makes of its result is delivered
        (``Mailbox.undo_if_late``), so nothing the flow gave up on stays behind.
        """
        command_id = self.ctx.requests.new_id()
        try:
            reply = await self.ctx.requests.request(
                device, command, args, timeout_s=timeout_s, resend=True, command_id=command_id
            )
        except TimeoutError:
            if undo_late is not None:
                self.ctx.mailbox.undo_if_late(command_id, device, undo_late)
            self.fail(f"{device} did not answer {command} within {timeout_s:g} s")
        except NotConnectedError as exc:
            self.fail(f"the orchestrator could not send {command} to {device}: {exc}")
        if not reply.ok:
            refused = CommandError.from_reply(reply)
            self.fail(f"{device} refused {command}: {refused.message} ({refused.code})")
        return reply.result or {}

    async def tell(self, device: str, command: str, args: dict[str, Any] | None = None) -> None:
        """Send a command without waiting for its reply; lost if the device or the broker is not
        there now (a key frame request, a traffic figure: worth nothing later). Clean-up that must
        arrive uses ``deliver``."""
        with contextlib.suppress(NotConnectedError):
            await self.ctx.requests.tell(device, command, args)

    async def deliver(self, device: str, command: str, args: dict[str, Any] | None = None) -> None:
        """Send a clean-up command without waiting for its reply, and make sure it arrives: sent
        now if ``device`` is online and the orchestrator connected, else kept (per device, in
        order, bounded) and sent when the device announces itself online again, until it answers
        (orchestrator/mailbox.py). For what must not stay behind: a hotspot, a stream lease, an AC."""
        await self.ctx.deliver(device, command, args)

    async def sleep(self, seconds: float) -> None:
        await self.clock.sleep(seconds, drive=False)

    # -- waiting -------------------------------------------------------------------------------------
    def _on_registry_change(self, view: DeviceView, what: str) -> None:
        self._changed.set()
        for check in list(self._aborts):
            check()

    def wake(self) -> None:
        """Re-evaluate the flow's waits and abort conditions (after a change not in the registry)."""
        self._changed.set()
        for check in list(self._aborts):
            check()

    async def wait_until(self, predicate: Callable[[Registry], bool], *, timeout_s: float, what: str) -> None:
        """Wait until ``predicate(registry)`` holds; FlowFailed naming ``what`` after ``timeout_s``."""
        try:
            async with self.clock.timeout(timeout_s, drive=False):
                while not predicate(self.registry):
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            self.fail(f"timed out after {timeout_s:g} s waiting for {what}")

    def expect_event(
        self, device: str, event: str, match: Callable[[dict[str, Any]], bool] | None = None
    ) -> asyncio.Future[dict[str, Any]]:
        """A future of the next ``event`` of ``device`` (matching ``match``); create it before acting."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

        def listener(source: str, name: str, payload: dict[str, Any]) -> None:
            if source == device and name == event and not future.done() and (match is None or match(payload)):
                future.set_result(payload)

        remove = self.ctx.listen(listener)
        future.add_done_callback(lambda _: remove())
        self._cleanups.append(remove)
        return future

    async def within(self, awaitable: Awaitable[Any], *, timeout_s: float, what: str) -> Any:
        """Await ``awaitable`` for at most ``timeout_s`` simulated seconds; FlowFailed naming ``what``."""
        try:
            async with self.clock.timeout(timeout_s, drive=False):
                return await awaitable
        except TimeoutError:
            self.fail(f"timed out after {timeout_s:g} s waiting for {what}")

    @contextlib.asynccontextmanager
    async def abort_when(self, condition: Callable[[Registry], str | None]) -> AsyncIterator[None]:
        """Run the body; when ``condition(registry)`` returns a reason, interrupt it with Interrupted.

        Checked on entry, at every registry change and at ``wake()``.
        """
        task = asyncio.current_task()
        assert task is not None
        fired: list[str] = []

        def check() -> None:
            if fired:
                return
            reason = condition(self.registry)
            if reason is not None:
                fired.append(reason)
                task.cancel()

        reason = condition(self.registry)
        if reason is not None:
            raise Interrupted(reason)
        self._aborts.append(check)
        try:
            yield
        except asyncio.CancelledError:
            if fired and task.uncancel() == 0:
                raise Interrupted(fired[0]) from None
            raise
        finally:
            self._aborts.remove(check)
        if fired and task.uncancel() == 0:  # fired after the body's last await
            raise Interrupted(fired[0])

    def abort_if_offline(self, *devices: str) -> contextlib.AbstractAsyncContextManager[None]:
        """Interrupt the body when one of ``devices`` goes offline (``$availability``)."""

        def offline(registry: Registry) -> str | None:
            for device in devices:
                view = registry.get(device)
                if view is None or not view.online:
                    return f"{device} went offline"
            return None

        return self.abort_when(offline)

    async def subscribe(self, *topic_filters: str, handler: Handler) -> None:
        """Subscribe to topics of the home while the flow runs (several: in one broker round trip)."""
        for topic_filter in topic_filters:  # first: ended with the flow even if cut short
            self._subscriptions.append((topic_filter, handler))
        await self.ctx.bus.subscribe_all(topic_filters, handler, qos=0)

    # -- the engine ----------------------------------------------------------------------------------
    @property
    def cancel_reason(self) -> str | None:
        """Why the flow is being cancelled (``None`` unless ``cancel`` was called)."""
        return self._cancel_reason

    def replace(self, by: Flow[Any]) -> None:
        """``by``, a new flow of this kind, takes over what this one holds (docs/flows.md, "A second
        flow on the same target"). By default this one is cancelled (``error: replaced by f-2``);
        a kind that hands over make-before-break overrides it and ends ``succeeded``. Either way
        ``result.ended_because`` is ``replaced`` and ``result.replaced_by`` names ``by``."""
        self.replaced_by = by.id
        self.cancel(f"replaced by {by.id}")

    @property
    def running(self) -> bool:
        """Started and not ended, nor being replaced."""
        return not self.state.terminal and self.replaced_by is None

    def cancel(self, reason: str) -> bool:
        """Cancel the running flow (it ends ``cancelled`` with ``reason``); False if it already ended."""
        if self.task is None or self.task.done() or self._cancel_reason is not None:
            return False
        self._cancel_reason = reason
        self.task.cancel()
        return True

    async def main(self) -> None:
        """Run the flow to its end; the task the orchestrator owns."""
        self._stop_listening = self.registry.on_change(self._on_registry_change)
        try:
            self.state = FlowState.RUNNING
            await self.publish()
            result = await self.run()
            if result is not None:
                self.result = {**(self.result or {}), **result}
            await self._end(FlowState.SUCCEEDED)
        except asyncio.CancelledError:
            await self._safe_cleanup()
            if self.replaced_by is not None:
                self.result = {**(self.result or {}), "ended_because": "replaced", "replaced_by": self.replaced_by}
            await self._end(FlowState.CANCELLED, self._cancel_reason or "cancelled")
            raise
        except FlowFailed as exc:
            await self._safe_cleanup()
            await self._end(FlowState.FAILED, exc.reason)
        except Interrupted as exc:
            await self._safe_cleanup()
            await self._end(FlowState.FAILED, exc.reason)
        except Exception as exc:
            log.exception("flow %s (%s) crashed", self.id, self.kind)
            await self._safe_cleanup()
            await self._end(FlowState.FAILED, f"internal error: {exc}")
        finally:
            await self._detach()

    async def _safe_cleanup(self) -> None:
        try:
            await self.cleanup()
        except Exception:
            log.exception("flow %s: clean-up failed", self.id)

    async def _end(self, state: FlowState, error: str | None = None) -> None:
        self.state, self.error, self.ended = state, error, self.clock.iso()
        for step in self.steps:
            if step.state == "running":
                step.state, step.ts = "failed", self.ended
        await self.publish()
        await self.ctx.outbox.publish(
            self.ctx.topics.event(ORCHESTRATOR, "flow_ended"),
            {"ts": self.ended, "flow_id": self.id, "kind": self.kind, "state": state.value, "error": error},
        )

    async def _detach(self) -> None:
        self._stop_listening()
        for remove in self._cleanups:
            remove()
        subscriptions, self._subscriptions = self._subscriptions, []
        for topic_filter, handler in subscriptions:
            with contextlib.suppress(NotConnectedError):
                await self.ctx.bus.unsubscribe(topic_filter, handler)
