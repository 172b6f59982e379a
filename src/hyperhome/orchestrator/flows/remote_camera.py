"""remote_camera: while driving, the phone calls up one of the car's cameras.

Only the car owner's devices may: the viewer's ``$meta`` owner must be the car's owner (and a
``user``, if given, too); otherwise the command is answered ``forbidden`` (an intent is refused).
The flow starts a lease (``stream.start`` on the car, viewer = the phone), publishes
``result = {"lease", "topic"}`` while it runs, and supervises the lease until:

- the car is parked and locked (state ``gear == "park"`` and ``locked``; the car ends every
  stream itself then): ``succeeded``, ``ended_because = "parked_and_locked"``;
- the viewer goes offline (the car ends that viewer's leases itself): ``succeeded``,
  ``"viewer_offline"``;
- the car stops streaming that camera for any other reason (someone sent ``stream.stop``):
  ``succeeded``, ``"cancelled_by_request"``;
- a remote_camera for another of the car's cameras on the same viewer has its stream running:
  ``stream.stop`` on the car, ``succeeded``, ``"replaced"`` (``replaced_by`` names it). One for
  the same camera on the same viewer is ``rejected``, naming this flow;
- ``flow.cancel``: ``stream.stop`` on the car, state ``cancelled``;
- the car goes offline: ``failed`` (``"car went offline"``);
- ``SUPERVISE_MAX_S`` (one day, a bound on the wait): ``succeeded``, ``"supervision_ended"``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from hyperhome.broker.topics import ID_PATTERN
from hyperhome.errors import CommandError, ErrorCode
from hyperhome.orchestrator.flows.base import Flow, FlowArgs, FlowContext, FlowFailed
from hyperhome.orchestrator.registry import Registry

SUPERVISE_MAX_S = 86_400.0


class RemoteCameraArgs(FlowArgs):
    viewer: str = Field(pattern=ID_PATTERN)
    """The device that shows the car's camera (the owner's phone)."""
    car: str = Field("car", pattern=ID_PATTERN)
    """The car."""
    stream: Literal["front", "rear", "cabin"] = "front"
    """Which of the car's cameras."""
    fps: float = Field(15.0, gt=0, le=60)
    """Frame rate to ask of the car."""


class RemoteCamera(Flow[RemoteCameraArgs]):
    kind = "remote_camera"
    Args = RemoteCameraArgs

    def __init__(self, ctx: FlowContext, flow_id: str, args: RemoteCameraArgs) -> None:
        super().__init__(ctx, flow_id, args)
        self.lease: str | None = None
        self._seen_streaming = False

    @classmethod
    def check(cls, args: RemoteCameraArgs, ctx: FlowContext) -> None:
        car, viewer = ctx.view(args.car), ctx.view(args.viewer)
        if car is None or car.meta is None or car.kind != "car":
            msg = f"{args.car} is not a car"
            raise CommandError(ErrorCode.REJECTED, msg)
        if viewer is None or viewer.meta is None:
            msg = f"no device {args.viewer!r}"
            raise CommandError(ErrorCode.REJECTED, msg)
        owner = car.meta.owner
        if owner is None or viewer.meta.owner != owner:
            msg = f"only devices of the car's owner may view its cameras ({args.viewer} is not {owner}'s)"
            raise CommandError(ErrorCode.FORBIDDEN, msg)
        if args.user is not None and args.user != owner:
            msg = f"{args.user} is not the owner of {args.car}"
            raise CommandError(ErrorCode.FORBIDDEN, msg)
        for view in (car, viewer):
            if not view.online:
                msg = f"{view.id} is offline"
                raise CommandError(ErrorCode.REJECTED, msg)
        for flow in ctx.running(RemoteCamera):
            if (flow.args.viewer, flow.args.car, flow.args.stream) == (args.viewer, args.car, args.stream):
                msg = f"{args.viewer} already shows {args.car}/{args.stream} (remote_camera {flow.id})"
                raise CommandError(ErrorCode.REJECTED, msg)

    async def run(self) -> dict[str, Any] | None:
        a = self.args
        async with self.step("lease", stream=a.stream) as step:
            lease = await self.command(a.car, "stream.start", {"stream": a.stream, "viewer": a.viewer, "fps": a.fps})
            self.lease = str(lease["lease"])
            step.detail["lease"] = self.lease
        await self.set_result(lease=self.lease, topic=lease["topic"])
        self._replace_older()
        async with self.step("supervise"):
            try:
                await self.wait_until(self._over, timeout_s=SUPERVISE_MAX_S, what="the lease to end")
            except FlowFailed:
                await self._stop_lease()
                return {"ended_because": "supervision_ended"}
        because = self._ended_because(self.registry)
        if because == "car_offline":
            self.fail(f"{a.car} went offline")
        if because == "replaced":
            await self._stop_lease()
            return {"ended_because": because, "replaced_by": self.replaced_by}
        self.lease = None  # the car ended it itself
        return {"ended_because": because}

    def _replace_older(self) -> None:
        """Make before break: with this flow's stream running, one showing another camera of the
        car on the same viewer ends (``check`` refused one showing the same camera)."""
        if self.replaced_by is not None:
            return
        for flow in self.ctx.running(RemoteCamera, before=self):
            if (flow.args.viewer, flow.args.car) == (self.args.viewer, self.args.car):
                flow.replace(self)

    def replace(self, by: Flow[Any]) -> None:
        """Another camera on the same viewer took over: stop this one's lease and end ``succeeded``."""
        self.replaced_by = by.id
        self.wake()

    async def cleanup(self) -> None:
        await self._stop_lease()

    async def _stop_lease(self) -> None:
        lease, self.lease = self.lease, None
        if lease is not None:
            await self.deliver(self.args.car, "stream.stop", {"lease": lease})

    def _over(self, registry: Registry) -> bool:
        return self._ended_because(registry) is not None

    def _ended_because(self, registry: Registry) -> str | None:
        if self.replaced_by is not None:
            return "replaced"
        car, viewer = registry.get(self.args.car), registry.get(self.args.viewer)
        if car is None or not car.online:
            return "car_offline"
        state = car.state or {}
        if state.get("gear") == "park" and state.get("locked"):
            return "parked_and_locked"
        if viewer is None or not viewer.online:
            return "viewer_offline"
        streaming = self.args.stream in (state.get("streaming") or [])
        self._seen_streaming = self._seen_streaming or streaming
        if self._seen_streaming and not streaming:
            return "cancelled_by_request"
        return None
