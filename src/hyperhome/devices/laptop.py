"""Laptop: the same video-call app and Wi-Fi/hotspot uplink as the tablet, with a 1080p webcam.

Everything it does lives in calling.py; this module gives the kind its name and its camera.
Constants:

- ``front`` webcam 1920 x 1080 (1080p "FHD"): the webcam of current mid- and upper-range laptops
  (720p remains common in cheaper ones); a design choice, not one model's spec.
"""

from __future__ import annotations

from typing import ClassVar

from hyperhome.devices.calling import FRONT, CallingConfig, CallingDevice, CallingState


class LaptopState(CallingState):
    """A laptop's state: the call app's and the network's (calling.py)."""


class LaptopConfig(CallingConfig):
    """A laptop's settings: known Wi-Fi networks and the call's frame rate (calling.py)."""


class Laptop(CallingDevice):
    """A laptop in a video call; see calling.py."""

    kind = "laptop"
    summary = ("online", "wifi.ssid", "in_call", "source.device")
    State = LaptopState
    Config = LaptopConfig
    resolutions: ClassVar[dict[str, tuple[int, int]]] = {FRONT: (1920, 1080)}

    state: LaptopState
    config: LaptopConfig
