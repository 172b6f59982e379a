"""Tablet: video calls on its front camera or any other device's, over home Wi-Fi or a phone's hotspot.

Everything it does lives in calling.py (shared with the laptop); this module gives the kind its
name and its camera. Constants:

- ``front`` camera 1280 x 720 (720p): the picture video-call apps typically send from a tablet
  (they capture at 720p even where the sensor has more); a design choice, not one model's spec.
"""

from __future__ import annotations

from typing import ClassVar

from hyperhome.devices.calling import FRONT, CallingConfig, CallingDevice, CallingState


class TabletState(CallingState):
    """A tablet's state: the call app's and the network's (calling.py)."""


class TabletConfig(CallingConfig):
    """A tablet's settings: known Wi-Fi networks, the call's frame rate, sharing (calling.py)."""

    auto_share: bool = True
    """Ask for the owner's phone hotspot by itself when a Wi-Fi loss takes it offline."""


class Tablet(CallingDevice):
    """A tablet in a video call; see calling.py."""

    kind = "tablet"
    summary = ("online", "wifi.ssid", "in_call", "source.device")
    State = TabletState
    Config = TabletConfig
    resolutions: ClassVar[dict[str, tuple[int, int]]] = {FRONT: (1280, 720)}

    state: TabletState
    config: TabletConfig
