"""Notifications a device shows: the newest last, the last ``kept`` of them in state.

``notifications_kept = 20`` (the phone's default) is a design choice that keeps the retained
state small.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from hyperhome.devices.base import Args


class Notification(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_attribute_docstrings=True)

    title: str
    body: str
    app: str | None = None
    ts: str
    """When it was shown (simulation time)."""


class NotifyArgs(Args):
    title: str = Field(min_length=1, max_length=120)
    """The notification's title."""
    body: str = Field("", max_length=1000)
    """Its text."""
    app: str | None = Field(None, min_length=1, max_length=64)
    """The app that posts it."""


def shown(notes: list[Notification], args: NotifyArgs, *, ts: str, kept: int) -> list[Notification]:
    """``notes`` with the one ``args`` asks for added last, the oldest dropped beyond ``kept``."""
    note = Notification(title=args.title, body=args.body, app=args.app, ts=ts)
    return [*notes, note][-kept:]
