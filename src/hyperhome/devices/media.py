"""Media sources: cameras that publish frame metadata while someone holds a viewer lease.

A kind with cameras subclasses ``MediaSource`` and lists its ``streams`` (name -> resolution).
It then answers, with no code of its own:

- ``stream.start {"stream", "viewer", "fps"}`` -> ``{"lease": "l-7", "topic": ".../stream/rear"}``
- ``stream.stop {"lease"}``
- ``stream.keyframe {"stream"}``: send a frame of a live stream now, and go on from there at the
  stream's rate. A viewer that starts showing a stream asks for it (as a video call asks its peer
  for a key frame), so the picture appears at once instead of up to one frame interval later.

While a stream has at least one live lease it publishes a ``Frame`` on ``stream/{stream}`` (QoS 0)
every 1/fps simulated seconds, at the highest fps any live lease asked for, so two viewers share
one source. When the last lease ends the frames stop at once (within one frame interval).
A lease also ends when its viewer's ``$availability`` goes ``offline``. A kind can refuse a start
(privacy mode) by overriding ``check_stream`` and raising ``CommandError(ErrorCode.REJECTED, ...)``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import Field

from hyperhome.broker.client import Message
from hyperhome.broker.topics import ID_PATTERN, STREAM_PATTERN
from hyperhome.broker.wire import OFFLINE, Frame
from hyperhome.devices.base import Args, Device, command
from hyperhome.devices.clock import TimerHandle
from hyperhome.errors import CommandError, ErrorCode


class StreamStartArgs(Args):
    stream: str = Field(pattern=STREAM_PATTERN)
    viewer: str = Field(pattern=r"^\$?" + ID_PATTERN.removeprefix("^"))  # a device id, or a reserved $ name
    fps: float = Field(30.0, gt=0, le=60)


class StreamStopArgs(Args):
    lease: str = Field(min_length=1, max_length=32)


class KeyframeArgs(Args):
    stream: str = Field(pattern=STREAM_PATTERN)
    """The stream to send a frame of now (it must have a live lease)."""


@dataclass
class Lease:
    id: str
    stream: str
    viewer: str
    fps: float


@dataclass
class _Stream:
    seq: int = 0
    fps: float = 0.0
    timer: TimerHandle | None = None


class MediaSource(Device):
    """A device with cameras; see the module docstring."""

    streams: ClassVar[tuple[str, ...]] = ()
    shadow: ClassVar[tuple[str, ...]] = ("_leases",)
    """The viewer leases (a kind's own ``shadow`` adds to them): a failed command that started or
    ended one puts them back (``replan``)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.shadow = tuple(dict.fromkeys((*MediaSource.shadow, *cls.shadow)))

    resolutions: ClassVar[dict[str, tuple[int, int]]] = {}
    still_image: ClassVar[bool] = False
    """The kind publishes its latest still image, retained, on ``still`` (docs/protocol.md,
    "Stills"): what Home Assistant's camera entity shows."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._streams: dict[str, _Stream] = {name: _Stream() for name in self.streams}
        self._leases: dict[str, dict[str, Lease]] = {name: {} for name in self.streams}
        self._lease_ids = itertools.count(1)

    async def on_start(self) -> None:
        await super().on_start()
        assert self.bus is not None
        await self.bus.subscribe(self.topics.all_of("$availability"), self._on_availability_message)

    async def stop(self) -> None:
        """Stop the frame timers too: in real time they would outlive the clock."""
        for stream in self._streams.values():
            if stream.timer is not None:
                stream.timer.cancel()
                stream.timer = None
        await super().stop()

    def replan(self) -> None:
        """After a failed command put the leases back: each stream's frame rate follows them again."""
        super().replan()
        for name in self.streams:
            self._retime(name)

    # -- hooks ---------------------------------------------------------------------------------
    def check_stream(self, stream: str, viewer: str) -> None:
        """Raise ``CommandError`` (``REJECTED`` or ``FORBIDDEN``) to refuse a viewer; default: allow."""

    def active_leases(self) -> list[Lease]:
        return [lease for leases in self._leases.values() for lease in leases.values()]

    # -- commands ------------------------------------------------------------------------------
    @command("stream.start", StreamStartArgs)
    async def stream_start(self, args: StreamStartArgs) -> dict[str, Any]:
        """Start a viewer lease on one of the device's streams; frames flow while it lives."""
        if args.stream not in self._streams:
            msg = f"{self.id} has no stream {args.stream!r} (streams: {', '.join(self.streams)})"
            raise CommandError(ErrorCode.REJECTED, msg)
        self.check_stream(args.stream, args.viewer)
        lease = Lease(f"l-{next(self._lease_ids)}", args.stream, args.viewer, args.fps)
        self._leases[args.stream][lease.id] = lease
        self._retime(args.stream)
        self.on_leases_changed()
        return {"lease": lease.id, "topic": self.topics.stream(self.id, args.stream), "fps": args.fps}

    @command("stream.stop", StreamStopArgs)
    async def stream_stop(self, args: StreamStopArgs) -> dict[str, Any]:
        """End a viewer lease; the stream stops when its last lease ends."""
        for name, leases in self._leases.items():
            if leases.pop(args.lease, None) is not None:
                self._retime(name)
                self.on_leases_changed()
                return {"lease": args.lease, "stopped": True}
        msg = f"no live lease {args.lease!r}"
        raise CommandError(ErrorCode.REJECTED, msg)

    @command("stream.keyframe", KeyframeArgs)
    async def stream_keyframe(self, args: KeyframeArgs) -> dict[str, Any]:
        """Send a frame of a live stream now; the next ones follow at the stream's rate from here."""
        stream = self._streams.get(args.stream)
        if stream is None or stream.fps <= 0:
            msg = f"{self.id} is not streaming {args.stream!r}"
            raise CommandError(ErrorCode.REJECTED, msg)
        if stream.timer is not None:
            stream.timer.cancel()
        # the frame goes out before the reply: the viewer waiting for it is the one in a hurry
        await self._publish(self.topics.stream(self.id, args.stream), self._next_frame(args.stream), qos=0)
        return {"stream": args.stream, "seq": stream.seq}

    def end_leases(self, *, stream: str | None = None, viewer: str | None = None) -> list[Lease]:
        """End every lease matching ``stream`` and/or ``viewer``; returns the ended leases."""
        ended = []
        for name, leases in self._leases.items():
            for lease in list(leases.values()):
                if (stream is None or lease.stream == stream) and (viewer is None or lease.viewer == viewer):
                    ended.append(leases.pop(lease.id))
            self._retime(name)
        if ended:
            self.on_leases_changed()
        return ended

    def on_leases_changed(self) -> None:
        """Hook: leases started or ended (e.g. to show them in state)."""

    # -- frames --------------------------------------------------------------------------------
    def _retime(self, name: str) -> None:
        stream = self._streams[name]
        fps = max((lease.fps for lease in self._leases[name].values()), default=0.0)
        if fps == stream.fps:
            return
        stream.fps = fps
        if stream.timer is not None:
            stream.timer.cancel()
            stream.timer = None
        if fps > 0:
            stream.timer = self.clock.call_later(0, lambda: self._frame_due(name))

    def _frame_due(self, name: str) -> None:
        if self._streams[name].fps > 0:
            self.spawn(self._publish(self.topics.stream(self.id, name), self._next_frame(name), qos=0))

    def _next_frame(self, name: str) -> bytes:
        """The stream's next frame (a live stream's); the one after it is due one interval later."""
        stream = self._streams[name]
        stream.seq += 1
        width, height = self.resolutions.get(name, (1920, 1080))
        frame = Frame(
            stream=name,
            source=self.id,
            seq=stream.seq,
            ts=self.clock.iso(),
            width=width,
            height=height,
            fps=stream.fps,
        )
        stream.timer = self.clock.call_later(1.0 / stream.fps, lambda: self._frame_due(name))
        return frame.to_payload()

    async def _on_availability_message(self, message: Message) -> None:
        """The kind's one handler of every device's ``$availability``: the leases first, then the
        kind's hook. One subscription: a second handler added on the same filter after connecting
        would get no retained copy (``BusClient.subscribe``), and could miss who is online already."""
        self._on_availability(message)
        await self.on_device_availability(message)

    async def on_device_availability(self, message: Message) -> None:
        """Hook: a device's ``$availability`` (retained copies included), after the leases' handling."""

    def _on_availability(self, message: Message) -> None:
        ref = self.topics.parse(message.topic)
        if ref is not None and message.payload == OFFLINE.encode() and ref.device != self.id:
            if self.end_leases(viewer=ref.device):
                self.spawn(self.publish_state_if_changed())
