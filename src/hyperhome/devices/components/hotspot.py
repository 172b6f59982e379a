"""A phone's Wi-Fi hotspot as state, and the mobile data its clients move, counted on its modem.

``HotspotState`` is what the phone publishes (never the password). ``ModemCounter`` holds the
precise totals behind the rounded ones in state: per client since it joined, and the modem's
whole count. Steady traffic (each client's ``mb_per_h``) is counted in closed form and only
while the hotspot is on and there is cellular service; bursts are counted at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from hyperhome.broker.topics import ID_PATTERN
from hyperhome.devices.physics import radio

ClientId = Annotated[str, Field(pattern=ID_PATTERN)]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_attribute_docstrings=True)


class HotspotClient(_Part):
    id: ClientId
    """Device id of the client."""
    used_mb: float = Field(0.0, ge=0)
    """Data this client used through the hotspot since it joined."""
    mb_per_h: float = Field(0.0, ge=0)
    """Its steady traffic (simulate.traffic)."""


class HotspotState(_Part):
    on: bool = False
    """The hotspot is broadcasting."""
    ssid: str | None = None
    """Its network name (null while off). The password is never in state."""
    clients: list[HotspotClient] = []
    """Devices joined to it, in joining order."""


def traffic_mb_per_h(hotspot: HotspotState, *, in_service: bool) -> float:
    """The clients' steady traffic through the modem now (0 while off or without service)."""
    if not hotspot.on or not in_service:
        return 0.0
    return sum(c.mb_per_h for c in hotspot.clients)


@dataclass
class ModemCounter:
    """Mobile data counted on the modem: the precise totals behind the rounded ones in state."""

    data_mb: float = 0.0
    client_mb: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, data_used_mb: float, hotspot: HotspotState) -> ModemCounter:
        return cls(data_used_mb, {c.id: c.used_mb for c in hotspot.clients})

    @property
    def data_used_mb(self) -> float:
        return round(self.data_mb, 3)

    def used_mb(self, client: str) -> float:
        return round(self.client_mb.get(client, 0.0), 3)

    def advance(self, hotspot: HotspotState, *, in_service: bool, elapsed_s: float) -> bool:
        """Count ``elapsed_s`` of steady traffic into the totals and each client's ``used_mb``; True if any flowed."""
        rate = traffic_mb_per_h(hotspot, in_service=in_service)
        if rate <= 0:
            return False
        for client in hotspot.clients:
            self.client_mb[client.id] = radio.data_after(self.client_mb[client.id], client.mb_per_h, elapsed_s)
            client.used_mb = round(self.client_mb[client.id], 3)
        self.data_mb = radio.data_after(self.data_mb, rate, elapsed_s)
        return True

    def burst(self, client: HotspotClient, mb: float) -> None:
        """Count a burst of ``mb`` by ``client`` (into its ``used_mb`` too)."""
        self.client_mb[client.id] += mb
        self.data_mb += mb
        client.used_mb = round(self.client_mb[client.id], 3)

    def admit(self, client: str) -> None:
        self.client_mb[client] = 0.0

    def drop(self, client: str) -> float:
        """Stop counting ``client``; its data stays in the modem's total. Returns what it used."""
        return round(self.client_mb.pop(client, 0.0), 3)

    def drop_all(self) -> None:
        self.client_mb = {}
