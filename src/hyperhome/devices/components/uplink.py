"""A calling device's path to the internet: the Wi-Fi around it, a joined phone hotspot, and the
one rule that picks the uplink.

``wifi`` is the radio's view of the Wi-Fi network around the device; ``uplink`` is chosen by one
rule whenever anything changes (``choose``): a known Wi-Fi with its link up, else the joined
hotspot while its host device's ``$availability`` is ``online``, else none. A joined hotspot is
remembered (rejoined when its host comes back) until ``network.leave``. The hotspot password is
checked for form only (a device cannot read the phone's settings) and is never stored or echoed.

Known Wi-Fi beats a hotspot: a design choice matching what phones and tablets do by default (a
hotspot is metered mobile data; a saved home network is not).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hyperhome.broker.topics import ID_PATTERN
from hyperhome.devices.base import Args
from hyperhome.devices.components.wifi import Passphrase, Ssid

Link = Literal["up", "down"]
Uplink = Literal["none", "wifi", "hotspot"]


class WifiState(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    ssid: Ssid | None = None
    """The Wi-Fi network around the device (null: none seen yet)."""
    link: Link = "down"
    """up while that network is in range."""


@dataclass(frozen=True)
class JoinedHotspot:
    ssid: str
    host: str


def choose(
    wifi: WifiState, hotspot: JoinedHotspot | None, *, known_wifi: tuple[str, ...], online: dict[str, bool]
) -> Uplink:
    """The uplink rule: a known Wi-Fi that is up, else the joined hotspot while its host is online, else none."""
    if wifi.link == "up" and wifi.ssid in known_wifi:
        return "wifi"
    if hotspot is not None and online.get(hotspot.host, False):
        return "hotspot"
    return "none"


class JoinHotspotArgs(Args):
    ssid: Ssid
    """The hotspot's network name."""
    password: Passphrase
    """WPA2 passphrase: 8 to 63 printable ASCII characters (never stored or echoed)."""
    host: str = Field(pattern=ID_PATTERN)
    """Device id of the phone providing the hotspot."""


class RequestShareArgs(Args):
    phone: str | None = Field(None, pattern=ID_PATTERN)
    """The phone whose hotspot to use (default: config share_phone, else the orchestrator picks the owner's)."""


class LeaveArgs(Args):
    reason: str | None = Field(None, min_length=1, max_length=200)
    """Why, for the offline event (default: "left hotspot <ssid>")."""


class SimulateWifiArgs(Args):
    ssid: Ssid | None = None
    """The network now around the device (omit: the same network as before)."""
    link: Link
    """up: the network is in range; down: it disappeared or the device walked out of range."""
