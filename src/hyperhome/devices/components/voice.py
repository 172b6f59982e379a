"""What a device with a microphone and a speaker is told in tests and asked to say.

``hear {text, level_db}`` is the test stimulus of someone speaking (already transcribed); ``say
{text}`` speaks a reply. Speech levels run from 54 dB(A) relaxed to 78 shouted at 1 m, 60 normal
(ISO 9921:2003). A kind with seat zones (the car) adds its zone to both.
"""

from __future__ import annotations

from pydantic import Field

from hyperhome.devices.base import Args

MAX_TEXT = 500


class SayArgs(Args):
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    """What to say."""
