"""A cabin display: the message it shows and the last ``DISPLAY_HISTORY`` shown (5, a UI choice),
oldest first, the current one included.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hyperhome.devices.base import Args

Level = Literal["info", "warning", "alert"]
DISPLAY_HISTORY = 5


class DisplayMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str
    level: Level
    ts: str


class DisplayArgs(Args):
    text: str = Field(min_length=1, max_length=200)
    """The message."""
    level: Level = "info"
    """How it is shown: info, warning or alert."""


def kept(history: list[DisplayMessage], message: DisplayMessage) -> list[DisplayMessage]:
    """``history`` with ``message`` shown last, the oldest dropped beyond ``DISPLAY_HISTORY``."""
    return [*history, message][-DISPLAY_HISTORY:]
