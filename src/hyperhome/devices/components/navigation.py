"""A car's trip: route, average speed, traffic and reroutes, with a live ETA in closed form.

``drive.start`` puts the car in drive at a profile's average speed (physics/driving.py); position,
speed and ETA follow in closed form. ``arrived`` is due at the exact ETA, re-planned whenever
traffic or a reroute changes it; ``eta_changed`` is announced when the ETA moves by
``ETA_CHANGE_S`` (a minute) or more from the last one announced. ``Navigation`` is the car's
shadow state of it (plain data); the kind keeps the arrival timer and parks the car on arrival.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from hyperhome.devices.base import Args
from hyperhome.devices.physics import driving
from hyperhome.errors import CommandError, ErrorCode

Profile = Literal["city", "mixed", "highway"]
ProfileName = Literal["city", "mixed", "highway", "custom"]
ETA_CHANGE_S = 60.0


class DriveStartArgs(Args):
    destination: str = Field(min_length=1, max_length=64)
    """A named place (home, office, ...)."""
    distance_km: float = Field(gt=0, le=2000)
    """Length of the route."""
    profile: Profile = "mixed"
    """Average speed: city 30, mixed 45, highway 90 km/h."""
    speed_kmh: float | None = Field(None, gt=0, le=210)
    """Average speed instead of a profile's."""


class RerouteArgs(Args):
    distance_km: float = Field(gt=0, le=2000)
    """Length of the new route from where the car is now."""
    destination: str | None = Field(None, min_length=1, max_length=64)
    """A new destination (default: the same)."""


class TrafficFactorArgs(Args):
    factor: float = Field(gt=0, le=2)
    """Speed relative to free flow: 0.5 halves it (the rest takes twice as long), 1 is free flow."""


@dataclass
class Navigation:
    """The trip under way (None: parked), its profile, its free-flow speed and the ETA last announced."""

    trip: driving.Trip | None = None
    profile: ProfileName | None = None
    base_speed_kmh: float = 0.0
    announced_eta: float | None = None

    def require(self) -> driving.Trip:
        if self.trip is None:
            msg = "no trip under way"
            raise CommandError(ErrorCode.REJECTED, msg)
        return self.trip

    def begin(self, args: DriveStartArgs, *, now: float, top_speed_kmh: float) -> driving.Trip:
        """Start the trip ``args`` ask for (refused while one is under way)."""
        if self.trip is not None:
            msg = f"already driving to {self.trip.destination}: cancel or reroute instead"
            raise CommandError(ErrorCode.REJECTED, msg)
        speed = min(args.speed_kmh or driving.PROFILE_SPEEDS_KMH[args.profile], top_speed_kmh)
        self.trip = driving.Trip.begin(args.destination, args.distance_km, speed, now)
        self.profile = "custom" if args.speed_kmh else args.profile
        self.base_speed_kmh = speed
        self.announced_eta = self.trip.eta_s()
        return self.trip

    def in_traffic(self, factor: float, *, now: float, top_speed_kmh: float) -> driving.Trip:
        """The trip from ``now`` at ``factor`` times its free-flow speed (not yet taken: see ``take``)."""
        return self.require().at_speed(now, min(self.base_speed_kmh * factor, top_speed_kmh))

    def take(self, trip: driving.Trip) -> float | None:
        """Drive ``trip`` from now on; the ETA announced before, if it moved by ``ETA_CHANGE_S`` or more."""
        self.trip = trip
        eta, previous = trip.eta_s(), self.announced_eta
        if previous is not None and abs(eta - previous) >= ETA_CHANGE_S:
            self.announced_eta = eta
            return previous
        return None

    def end(self) -> None:
        self.trip = None
        self.profile = None
