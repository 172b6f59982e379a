"""Security camera: a home camera with a live stream, motion and person detection, event clips and privacy mode.

Modelled on a Xiaomi home security camera (Mi Home Security Camera 360° 1080p, Xiaomi Smart
Camera C-series). One media stream, ``main``, served through ``MediaSource`` viewer leases.

Detection. The stimuli ``simulate.motion`` and ``simulate.person`` stand for what the camera's
motion and person detectors would report; each publishes ``motion`` or ``person_detected`` and
starts an event clip. A detection while a clip is recording joins that clip (no second clip, the
clip is not extended); a person seen during a motion clip relabels its trigger ``person``, as the
app labels a clip by the most specific thing seen in it. There is no alarm interval: every
stimulus is a detection, so a scenario gets exactly the events it asks for.

Privacy mode covers the lens: ``stream.start`` is rejected, turning it on ends every live lease at
once (event ``stream_ended``) and cuts a clip being recorded short (its ``clip_recorded`` gives
the shorter length), and detection is off (no events, no clips) until it is turned off again.
``detection {on: false}`` (the app's "motion detection" switch) also stops detection but leaves
the stream alone.

Constants, and where they come from:

- ``CLIP_LENGTH_S = 12``: Mi Home event clips (the free cloud recording of motion alarms) are at
  most 12 s long (Mi Home setup guides, e.g. technika66.ru "Как настроить cloud storage smart
  camera"; other consumer cameras use the same figure, e.g. HedgeProtect SmartCam's 12 s clips).
  A clip is listed in state when it starts and ``clip_recorded`` fires exactly 12 s later.
- ``MAX_CLIPS_LISTED = 20``: how many of the newest clips state lists (older ones drop off). A
  bound chosen here to keep the retained state message small; the app pages its event list.
- ``main`` is 1920x1080: the 1080p resolution of the Mi Home Security Camera 360°.
"""

from __future__ import annotations

import functools
import struct
import zlib
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hyperhome.devices.base import Args, DeviceSpec, DeviceState, command
from hyperhome.devices.components.labels import LABEL_PATTERN
from hyperhome.devices.media import MediaSource
from hyperhome.devices.miot import MiotDevice, MiotService
from hyperhome.errors import CommandError, ErrorCode

if TYPE_CHECKING:
    from hyperhome.broker.topics import Topics
    from hyperhome.devices.clock import Clock, TimerHandle

CLIP_LENGTH_S = 12.0
MAX_CLIPS_LISTED = 20
MAIN_RESOLUTION = (1920, 1080)
STILL_SIZE = (160, 90)
"""The still image's size: a thumbnail of ``main`` (16:9)."""


@functools.cache
def still_png(covered: bool) -> bytes:
    """The camera's still: a grey 160x90 PNG, black while privacy covers the lens (the
    simulation has no picture; the still says what a real one would: live or covered)."""
    width, height = STILL_SIZE
    level = 0 if covered else 96
    rows = b"".join(b"\x00" + bytes([level]) * width for _ in range(height))  # filter 0, one grey byte a pixel

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


Trigger = Literal["motion", "person"]


class Clip(BaseModel):
    """One event clip."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    id: str
    """Clip id, ``c-1``, ``c-2``, ... in the order recorded."""
    started: str
    """When recording began (ISO 8601, simulation time)."""
    duration_s: float = Field(ge=0)
    """Length of the clip (12 s unless privacy mode cut it short)."""
    trigger: Trigger
    """What started it (``person`` if a person was seen during it)."""


class CameraState(DeviceState):
    privacy: bool = False
    """Privacy mode: the lens is covered; no live view, no detection, no clips."""
    detection: bool = True
    """Motion and person detection is on (the app's "motion detection" switch)."""
    viewers: list[str] = Field(default_factory=list)
    """Viewers holding a live lease on the ``main`` stream (sorted, each once)."""
    recording: str | None = None
    """Id of the clip being recorded now, null when none."""
    clips: list[Clip] = Field(default_factory=list, max_length=MAX_CLIPS_LISTED)
    """The newest event clips, oldest first (at most 20)."""


class PrivacyArgs(Args):
    on: bool
    """True covers the lens (ends live views, stops detection); false uncovers it."""


class DetectionArgs(Args):
    on: bool
    """Turn motion and person detection on or off."""


class MotionArgs(Args):
    zone: str | None = Field(None, pattern=LABEL_PATTERN)
    """Where in the view the motion was (a named zone, e.g. ``doorstep``); null for anywhere."""


class PersonArgs(Args):
    """A stranger (known false) has no name."""

    model_config = ConfigDict(
        json_schema_extra={
            "not": {
                "required": ["name", "known"],
                "properties": {"name": {"type": "string"}, "known": {"const": False}},
            }
        }
    )

    name: str | None = Field(None, pattern=LABEL_PATTERN)
    """Who it is, for a face the camera knows (implies ``known``)."""
    known: bool | None = None
    """A face the camera recognises; defaults to true when ``name`` is given, else false."""

    @model_validator(mode="after")
    def _stranger_has_no_name(self) -> PersonArgs:
        if self.known is False and self.name is not None:
            msg = "an unknown person has no name: drop name or set known to true"
            raise ValueError(msg)
        return self

    @property
    def is_known(self) -> bool:
        return self.known if self.known is not None else self.name is not None


class Camera(MediaSource):
    kind = "camera"
    summary = ("privacy", "detection", "viewers")
    State = CameraState
    capabilities = ("camera", "motion_detection", "person_detection", "privacy")
    miot = MiotDevice(
        type="camera",
        code="0000A01C",
        services=(
            MiotService(
                "camera-control",
                properties={"privacy": "physical-cover", "detection": "motion-detection"},
                actions={"privacy": "privacy", "detection": "detection"},
            ),
            MiotService(
                "camera-detection",
                events={"motion": "motion-detected", "person_detected": "people-detected"},
            ),
        ),
    )
    streams = ("main",)
    resolutions: ClassVar[dict[str, tuple[int, int]]] = {"main": MAIN_RESOLUTION}
    still_image = True
    events: ClassVar[dict[str, str]] = {
        "motion": "motion in view: zone (null for anywhere), clip (the clip recording it)",
        "person_detected": "a person in view: known, name (null unless known), clip",
        "clip_recorded": "an event clip is finished and saved: clip, started, duration_s, trigger",
        "stream_ended": "privacy mode ended live views: leases, viewers, reason",
    }

    state: CameraState
    shadow = ("_next_clip_no", "_clip_started_s")

    def __init__(self, spec: DeviceSpec, *, home: str, clock: Clock, topics: Topics | None = None) -> None:
        super().__init__(spec, home=home, clock=clock, topics=topics)
        self.state.recording = None
        self.state.viewers = []
        numbers = [int(c.id[2:]) for c in self.state.clips if c.id[2:].isdigit()]
        self._next_clip_no = max(numbers, default=0) + 1
        self._clip_timer: TimerHandle | None = None
        self._clip_started_s = 0.0

    async def _announce(self) -> None:
        await super()._announce()
        await self.publish_still()

    async def publish_still(self) -> None:
        """The latest still, retained on ``still`` (after every connect and privacy change)."""
        await self._publish(self.topics.still(self.id), still_png(self.state.privacy), retain=True)

    # -- media hooks -----------------------------------------------------------------------------
    def check_stream(self, stream: str, viewer: str) -> None:
        if self.state.privacy:
            msg = "privacy mode is on (the lens is covered): turn privacy off to watch"
            raise CommandError(ErrorCode.REJECTED, msg)

    def on_leases_changed(self) -> None:
        self.state.viewers = sorted({lease.viewer for lease in self.active_leases()})

    # -- commands ------------------------------------------------------------------------------
    @command("privacy", PrivacyArgs)
    async def privacy(self, args: PrivacyArgs) -> dict[str, Any]:
        """Cover or uncover the lens; covering it ends every live view and stops detection and clips."""
        changed, self.state.privacy = self.state.privacy != args.on, args.on
        if changed:
            self.spawn(self.publish_still())
        if not args.on:
            return {"privacy": False, "ended_leases": []}
        ended = self.end_leases()
        if ended:
            await self.emit(
                "stream_ended",
                leases=[lease.id for lease in ended],
                viewers=sorted({lease.viewer for lease in ended}),
                reason="privacy",
            )
        if self.state.recording is not None:
            await self._finish_clip()
        return {"privacy": True, "ended_leases": [lease.id for lease in ended]}

    @command("detection", DetectionArgs)
    async def detection(self, args: DetectionArgs) -> dict[str, Any]:
        """Turn motion and person detection on or off (the live stream is not affected)."""
        self.state.detection = args.on
        return {"detection": args.on}

    @command("simulate.motion", MotionArgs)
    async def simulate_motion(self, args: MotionArgs) -> dict[str, Any]:
        """Test stimulus: something moves in view; ``motion`` and a clip, unless detection is off."""
        if not self._detecting():
            return {"detected": False, "reason": self._blind_reason()}
        clip = self._clip_for("motion")
        await self.emit("motion", zone=args.zone, clip=clip)
        return {"detected": True, "clip": clip}

    @command("simulate.person", PersonArgs)
    async def simulate_person(self, args: PersonArgs) -> dict[str, Any]:
        """Test stimulus: a person comes into view; ``person_detected`` and a clip, unless detection is off."""
        if not self._detecting():
            return {"detected": False, "reason": self._blind_reason()}
        clip = self._clip_for("person")
        known = args.is_known
        await self.emit("person_detected", known=known, name=args.name if known else None, clip=clip)
        return {"detected": True, "clip": clip}

    # -- clips ---------------------------------------------------------------------------------
    def _detecting(self) -> bool:
        return self.state.detection and not self.state.privacy

    def _blind_reason(self) -> str:
        return "privacy mode is on" if self.state.privacy else "detection is off"

    def _clip_for(self, trigger: Trigger) -> str:
        """The id of the clip recording this detection: the current one, or a new one."""
        current = self._current_clip()
        if current is not None:
            if trigger == "person":
                current.trigger = "person"
            return current.id
        number, self._next_clip_no = self._next_clip_no, self._next_clip_no + 1
        clip = Clip(id=f"c-{number}", started=self.clock.iso(), duration_s=CLIP_LENGTH_S, trigger=trigger)
        self.state.clips = [*self.state.clips, clip][-MAX_CLIPS_LISTED:]
        self.state.recording = clip.id
        self._clip_started_s = self.clock.now()
        self._clip_timer = self.at(self.clock.now() + CLIP_LENGTH_S, self._clip_ended)
        return clip.id

    def _current_clip(self) -> Clip | None:
        return next((c for c in self.state.clips if c.id == self.state.recording), None)

    async def _clip_ended(self) -> None:
        self._clip_timer = None
        await self._finish_clip()
        await self.publish_state()

    def replan(self) -> None:
        if self._clip_timer is not None:
            self._clip_timer.cancel()
            self._clip_timer = None
        if self.state.recording is not None:
            self._clip_timer = self.at(self._clip_started_s + CLIP_LENGTH_S, self._clip_ended)

    async def _finish_clip(self) -> None:
        """Stop recording now: fix the clip's length and publish ``clip_recorded``."""
        if self._clip_timer is not None:
            self._clip_timer.cancel()
            self._clip_timer = None
        clip = self._current_clip()
        self.state.recording = None
        if clip is None:
            return
        clip.duration_s = round(min(CLIP_LENGTH_S, self.clock.now() - self._clip_started_s), 3)
        await self.emit(
            "clip_recorded", clip=clip.id, started=clip.started, duration_s=clip.duration_s, trigger=clip.trigger
        )
