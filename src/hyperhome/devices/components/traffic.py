"""Data traffic as a test stimulus: a burst of MB now and/or a steady rate in MB/h from now.

One args model for every kind that moves data (the phone's hotspot clients, the call app of a
tablet or laptop). A burst is more than 0 MB (a burst of nothing is no burst: the call app
would announce ``event/traffic {mb: 0}``, and the network_share flow relays only real bursts to
the phone); a rate may be 0, which stops it.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field, model_validator

from hyperhome.devices.base import Args, Omittable, requires_one_of

MAX_MB = 100000
"""The largest burst and rate a stimulus takes: 100 GB, far above any real hour of traffic."""


class TrafficArgs(Args):
    """Give mb, mb_per_h or both."""

    model_config = ConfigDict(json_schema_extra=requires_one_of("mb", "mb_per_h"))

    mb: Omittable[float] = Field(None, gt=0, le=MAX_MB)
    """A burst of this many MB now (a download); needs an uplink (for a phone: cellular service)."""
    mb_per_h: Omittable[float] = Field(None, ge=0, le=MAX_MB)
    """From now on, a steady rate (0 stops it)."""

    @model_validator(mode="after")
    def _something(self) -> TrafficArgs:
        if self.mb is None and self.mb_per_h is None:
            msg = "give mb, mb_per_h or both"
            raise ValueError(msg)
        return self
