"""What a video call knows about the stream it shows: frames counted in memory (never published
per frame), the last one's sequence number and arrival, and the moment the picture goes blank.

``blank`` turns true once no frame of the source arrived for more than
``BLANK_AFTER_FRAME_INTERVALS`` frame intervals (the interval of the source's last frame, or the
call's own ``1 / fps`` before its first), at that exact moment (``blank_at``).

``BLANK_AFTER_FRAME_INTERVALS = 3``: HyperHome issue 3. One or two lost frames (QoS 0) do not
blank the picture; at 30 fps the picture is declared blank after 100 ms without a frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from hyperhome.broker.topics import ID_PATTERN, STREAM_PATTERN
from hyperhome.broker.wire import Frame

BLANK_AFTER_FRAME_INTERVALS = 3


class VideoSource(BaseModel):
    """One device's stream, shown by the call."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    device: str = Field(pattern=ID_PATTERN)
    """The device whose camera the call shows (its own id for its own camera)."""
    stream: str = Field(pattern=STREAM_PATTERN)
    """That device's stream name, e.g. front or rear."""


def after(when: float) -> float:
    """The first representable moment strictly after ``when`` ("more than N intervals")."""
    return math.nextafter(when, math.inf)


@dataclass
class FrameWatch:
    """The frames of the source shown (plain data: a failed command puts the previous one back)."""

    source: VideoSource
    topic: str
    since: float
    blank_at: float
    interval_s: float
    frames: int = 0
    last_seq: int | None = None
    last_frame_at: float | None = None

    @classmethod
    def begin(cls, source: VideoSource, topic: str, *, now: float, fps: float) -> FrameWatch:
        """Watching ``source`` from ``now``, assuming ``fps`` until its first frame says its own."""
        interval_s = 1.0 / fps
        return cls(source, topic, since=now, blank_at=after(now + BLANK_AFTER_FRAME_INTERVALS * interval_s),
                   interval_s=interval_s)  # fmt: skip

    def count(self, frame: Frame, now: float) -> None:
        """A frame arrived at ``now``: counted, and the blank moment moves to after the next intervals."""
        self.frames += 1
        self.last_seq = frame.seq
        self.last_frame_at = now
        if frame.fps > 0:
            self.interval_s = 1.0 / frame.fps
        self.blank_at = after(now + BLANK_AFTER_FRAME_INTERVALS * self.interval_s)

    def blank(self, now: float) -> bool:
        return now >= self.blank_at

    def age_s(self, now: float) -> float | None:
        """The last frame's age at ``now`` (None before the first)."""
        return None if self.last_frame_at is None else round(now - self.last_frame_at, 3)
