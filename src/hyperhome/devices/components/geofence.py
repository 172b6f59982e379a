"""Where a phone is: places, coordinates, the distance from home, the geofence events and a
trip home at a constant speed (in closed form).

``location`` is a named place (``home``, ``office``, ``road``, ...) or ``"lat,lon"``. The
geofence rules (which events a move emits, in order) are ``geofence_events``: ``moved`` on every
change of place; ``left_home`` when the location leaves ``home``; ``arrived_home`` when it
becomes ``home``; ``approaching_home`` when the distance crosses the approach radius inward
(from farther, or from an unknown distance; never on the way out of home).

``distance_home_km`` is known for home (0), for coordinates when ``home_lat_lon`` is set
(great-circle distance), for places listed in ``places_km``, or when given (``move
{distance_km}``, ``simulate.approach``); else null. Coordinates within the arrival radius of home
are home. ``simulate.approach {distance_km, speed_kmh?}`` puts the phone on the ``road`` that far
from home; with a speed it then travels home at that speed (``TripHome``): the distance shrinks in
closed form, ``approaching_home`` fires at the exact crossing moment and ``arrived_home`` on arrival.

Constants: ``approach_radius_km = 2``, HyperHome issue 3's example radius for "approaching home";
``arrival_radius_km = 0.1``, Android's geofencing guidance (developer.android.com, "Create and
monitor geofences") recommends a radius of at least 100-150 m for reliable triggers;
``EARTH_RADIUS_KM = 6371.0088``, the IUGG mean Earth radius, for great-circle distances.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from hyperhome.devices.base import Args

HOME = "home"
ROAD = "road"
EARTH_RADIUS_KM = 6371.0088
_COORDS = re.compile(r"^ *(-?[0-9]{1,3}(?:\.[0-9]+)?) *, *(-?[0-9]{1,3}(?:\.[0-9]+)?) *$")
_LAT = r"-?(?:0?[0-8]?[0-9](?:\.[0-9]+)?|0?90(?:\.0+)?)"
_LON = r"-?(?:0?[0-9]?[0-9](?:\.[0-9]+)?|1[0-7][0-9](?:\.[0-9]+)?|180(?:\.0+)?)"
LOCATION_PATTERN = rf"^(?:[^,]*| *{_LAT} *, *{_LON} *)$"
"""A place name (no comma) or ``"lat,lon"`` in range, as ``parse_coords`` reads them, for a JSON Schema."""


def parse_coords(text: str) -> tuple[float, float] | None:
    """``(lat, lon)`` from ``"lat,lon"``; None for a place name; ValueError when out of range."""
    match = _COORDS.fullmatch(text)
    if match is None:
        if "," in text:
            msg = f"{text!r} is neither a place name nor coordinates 'lat,lon'"
            raise ValueError(msg)
        return None
    lat, lon = float(match[1]), float(match[2])
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        msg = f"coordinates {text!r} out of range (lat -90..90, lon -180..180)"
        raise ValueError(msg)
    return lat, lon


def great_circle_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Haversine distance between two (lat, lon) points on a sphere of the mean Earth radius."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _location(value: str) -> str:
    parse_coords(value)
    return value


Location = Annotated[
    str, Field(min_length=1, max_length=64, json_schema_extra={"pattern": LOCATION_PATTERN}), AfterValidator(_location)
]


def distance_home_km(
    location: str, coords: tuple[float, float] | None, *, home_lat_lon: str | None, places_km: dict[str, float]
) -> float | None:
    """The distance of ``location`` from home, if known (0 for home; great-circle for coordinates)."""
    if location == HOME:
        return 0.0
    if coords is not None:
        home_coords = parse_coords(home_lat_lon) if home_lat_lon is not None else None
        return None if home_coords is None else round(great_circle_km(coords, home_coords), 3)
    return places_km.get(location)


def geofence_events(
    before: str,
    before_km: float | None,
    location: str,
    distance_km: float | None,
    *,
    approach_radius_km: float,
    minutes_to_home: float | None,
) -> list[tuple[str, dict[str, Any]]]:
    """The events, in order, of a move from ``before`` (``before_km`` away) to ``location``."""
    events: list[tuple[str, dict[str, Any]]] = []
    if before != location:
        events.append(("moved", {"from": before, "to": location}))
    if before == HOME and location != HOME:
        events.append(("left_home", {"to": location, "distance_home_km": distance_km}))
    if location == HOME and before != HOME:
        events.append(("arrived_home", {"from": before}))
    elif location != HOME and before != HOME and distance_km is not None:
        radius = approach_radius_km
        if distance_km <= radius and (before_km is None or before_km > radius):
            events.append(("approaching_home", {"distance_km": distance_km, "minutes_to_home": minutes_to_home}))
    return events


@dataclass(frozen=True, slots=True)
class TripHome:
    """A trip home at a constant speed, from ``start_km`` away at ``start_s``."""

    start_s: float
    start_km: float
    speed_kmh: float

    def distance_km(self, now_s: float) -> float:
        return max(0.0, self.start_km - self.speed_kmh * (now_s - self.start_s) / 3600.0)

    def crossing_s(self, radius_km: float) -> float | None:
        """When the trip crosses ``radius_km`` inward (None: it starts inside)."""
        inward_km = self.start_km - radius_km
        return self.start_s + inward_km / self.speed_kmh * 3600.0 if inward_km > 0 else None

    def arrival_s(self) -> float:
        return self.start_s + self.start_km / self.speed_kmh * 3600.0


class MoveArgs(Args):
    """At home, distance_km is 0 or left out."""

    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"location": {"const": HOME}}},
            "then": {"properties": {"distance_km": {"anyOf": [{"const": 0}, {"type": "null"}]}}},
        }
    )

    location: Location
    """The place the phone is now at: a name or "lat,lon"."""
    distance_km: float | None = Field(None, ge=0, le=20000)
    """Its distance from home, if known (0 only for home)."""

    @model_validator(mode="after")
    def _home_is_here(self) -> MoveArgs:
        if self.location == HOME and self.distance_km not in (None, 0):
            msg = "home is 0 km from home"
            raise ValueError(msg)
        return self


class ApproachArgs(Args):
    distance_km: float = Field(gt=0, le=20000)
    """The phone is on the road this far from home."""
    speed_kmh: float | None = Field(None, gt=0, le=300)
    """If given, it travels home at this speed from there."""


def destination(
    args: MoveArgs, *, home_lat_lon: str | None, places_km: dict[str, float], arrival_radius_km: float
) -> tuple[str, float | None]:
    """Where a ``move`` puts the phone and its distance from home (coordinates near home are home)."""
    location, distance = args.location, args.distance_km
    coords = parse_coords(location)
    if distance is None:
        distance = distance_home_km(location, coords, home_lat_lon=home_lat_lon, places_km=places_km)
    near_home = coords is not None and distance is not None and distance <= arrival_radius_km
    if location == HOME or near_home:
        return HOME, 0.0
    return location, distance
