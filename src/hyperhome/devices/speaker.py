"""Smart speaker: the home's ears and voice. It hears what people say and speaks what it is told.

``hear`` is the test stimulus for someone speaking near it: the speaker publishes
``event/utterance {text, level_db}`` and the orchestrator makes sense of the words (a speaker does
not act on them itself). ``level_db`` is the speech level at the microphones, so when several
speakers hear one sentence the orchestrator can tell which is nearest. ``say`` speaks a text:
``event/spoke`` and ``last_spoken`` in state.

Two switches, as on real smart speakers:

- ``muted`` silences the loudspeaker only: the microphones still hear (``hear`` works), but
  ``say`` is rejected ("the speaker is muted"), so a flow learns it was not heard and can fall
  back to, say, a phone notification. Volume 0 is not muted: ``say`` works but is inaudible.
- ``microphone`` is the privacy switch: while it is off the speaker hears nothing (``hear``
  replies ``heard: false`` and publishes no utterance), but it can still speak.

Speech quieter than ``hearing_floor_db`` is not heard either (``heard: false``, no event).

Constants and where they come from:

- ``hearing_floor_db = 30`` (dB SPL at the microphones): the background level of a quiet
  bedroom in the WHO Guidelines for Community Noise (1999, 30 dB LAeq); speech at or below the
  room's background cannot be picked out. Normal conversation at 1 m is about 60 dB SPL, a
  whisper about 30.
- ``level_db`` is accepted from 0 to 130 dB SPL: 130 dB is above the threshold of pain; nothing
  a microphone hears in a home is louder.
- ``volume_pct = 40`` at start: a design choice (a moderate default).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ConfigDict, Field, model_validator

from hyperhome.devices.base import Args, Device, DeviceConfig, DeviceState, Omittable, command
from hyperhome.devices.miot import MiotDevice, MiotService
from hyperhome.errors import CommandError, ErrorCode

MAX_LEVEL_DB = 130.0


class SpeakerState(DeviceState):
    volume_pct: int = Field(40, ge=0, le=100)
    """Loudspeaker volume."""
    muted: bool = False
    """The loudspeaker is silenced: say is rejected, the microphones still hear."""
    microphone: bool = True
    """The microphones are on (off: the privacy switch; nothing is heard)."""
    last_spoken: str | None = None
    """The last text the speaker said."""


class SpeakerConfig(DeviceConfig):
    hearing_floor_db: float = Field(30.0, ge=0, le=MAX_LEVEL_DB)
    """Speech at or below this level (dB SPL at the microphones) is not heard."""


class HearArgs(Args):
    text: str = Field(min_length=1, max_length=500)
    """What was said near the speaker."""
    level_db: float = Field(ge=0, le=MAX_LEVEL_DB)
    """Its sound level at the microphones, dB SPL (conversation at 1 m is about 60)."""


class SayArgs(Args):
    text: str = Field(min_length=1, max_length=500)
    """What to say."""


class SpeakerSetArgs(Args):
    """Any subset of the settings; at least one."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    volume_pct: Omittable[int] = Field(None, ge=0, le=100)
    """Loudspeaker volume."""
    muted: Omittable[bool] = None
    """Silence the loudspeaker (the microphones still hear)."""
    microphone: Omittable[bool] = None
    """Switch the microphones on or off (the privacy switch)."""

    @model_validator(mode="after")
    def _something(self) -> SpeakerSetArgs:
        if not self.model_fields_set:
            msg = "give at least one of volume_pct, muted, microphone"
            raise ValueError(msg)
        return self


class Speaker(Device):
    kind = "speaker"
    summary = ("volume_pct", "muted", "last_spoken")
    State = SpeakerState
    Config = SpeakerConfig
    capabilities = ("voice", "audio")
    miot = MiotDevice(
        type="speaker",
        code="0000A015",
        services=(
            MiotService("speaker", properties={"volume_pct": "volume", "muted": "mute"}),
            MiotService(
                "intelligent-speaker",
                properties={"microphone": "microphone", "last_spoken": "text-content"},
                actions={"say": "play-text"},
                events={"utterance": "wake-up", "spoke": "play-text"},
            ),
        ),
    )
    events: ClassVar[dict[str, str]] = {
        "utterance": "someone said something the speaker heard: text, level_db",
        "spoke": "the speaker said something: text, volume_pct",
    }

    state: SpeakerState
    config: SpeakerConfig

    @command("hear", HearArgs)
    async def hear(self, args: HearArgs) -> dict[str, Any]:
        """Test stimulus: someone speaks near the speaker; if heard, publishes ``event/utterance``."""
        if not self.state.microphone:
            return {"heard": False, "reason": "the microphone is off"}
        if args.level_db <= self.config.hearing_floor_db:
            return {"heard": False, "reason": f"too quiet (at or below {self.config.hearing_floor_db} dB)"}
        await self.emit("utterance", text=args.text, level_db=args.level_db)
        return {"heard": True}

    @command("say", SayArgs)
    async def say(self, args: SayArgs) -> dict[str, Any]:
        """Speak a text aloud (rejected while muted)."""
        if self.state.muted:
            msg = "the speaker is muted"
            raise CommandError(ErrorCode.REJECTED, msg)
        self.state.last_spoken = args.text
        await self.emit("spoke", text=args.text, volume_pct=self.state.volume_pct)
        return {"spoken": True, "volume_pct": self.state.volume_pct}

    @command("set", SpeakerSetArgs)
    async def set(self, args: SpeakerSetArgs) -> dict[str, Any]:
        """Change any of volume_pct, muted and microphone; the rest stay as they are."""
        for name in args.model_fields_set:
            setattr(self.state, name, getattr(args, name))
        return self.state.model_dump(include={"volume_pct", "muted", "microphone"})
