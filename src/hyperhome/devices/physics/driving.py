"""A car trip at piecewise-constant speed, and the battery energy it takes. Closed form.

A trip is a route of ``distance_km`` driven as a list of legs, each at one constant speed from a
moment on (a new leg starts when traffic or a reroute changes the plan). The distance driven at
any time ``t`` is then exact::

    driven(t) = min(distance, leg.start_km + leg.speed_kmh * (t - leg.start_s) / 3600)

for the last leg that started at or before ``t``, and the arrival time is the last leg's start
plus the rest of the route at its speed. So state computed after any stretch of simulated time
is the same whether it was computed once or every second.

Speed profiles (average speeds including stops, rounded to the figure used):

- ``city`` = 30 km/h: the CLTC-P cycle (GB/T 38146.1-2019, China's light-vehicle test cycle,
  shaped on driving data from Chinese cities) averages 28.96 km/h over 1800 s and 14.48 km
  (DieselNet, "China Light-Duty Vehicle Test Cycle (CLTC)", table 1).
- ``mixed`` = 45 km/h: the WLTC class 3 cycle (UN GTR No. 15) averages 46.5 km/h over
  23.25 km in 1800 s, urban to motorway (Mercedes-Benz and Volvo Cars WLTP pages).
- ``highway`` = 90 km/h: the WLTC class 3 extra-high phase runs 8.25 km in 323 s, about
  92 km/h; Chinese expressways allow 60 to 120 km/h (Road Traffic Safety Law implementing
  regulations, art. 78).

Energy is consumption per km times the distance driven: one real-world figure, independent of
speed (see ``car.py`` for the figure and its sources). Range is the energy left over that figure.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

PROFILE_SPEEDS_KMH: dict[str, float] = {"city": 30.0, "mixed": 45.0, "highway": 90.0}
"""Average speed of each named speed profile (see the module docstring for the sources)."""


@dataclass(frozen=True, slots=True)
class Leg:
    """From simulated time ``start_s`` on, the car drives at ``speed_kmh``, having driven ``start_km``."""

    start_s: float
    start_km: float
    speed_kmh: float


@dataclass(frozen=True, slots=True)
class Trip:
    """A route of ``distance_km`` to ``destination``, driven as a sequence of legs."""

    destination: str
    distance_km: float
    legs: tuple[Leg, ...]

    @classmethod
    def begin(cls, destination: str, distance_km: float, speed_kmh: float, now_s: float) -> Trip:
        """A trip that departs at ``now_s`` at a constant ``speed_kmh``."""
        _check_positive(distance_km=distance_km, speed_kmh=speed_kmh)
        return cls(destination, distance_km, (Leg(now_s, 0.0, speed_kmh),))

    @property
    def departed_s(self) -> float:
        return self.legs[0].start_s

    def _leg_at(self, t_s: float) -> Leg:
        current = self.legs[0]
        for leg in self.legs[1:]:
            if leg.start_s > t_s:
                break
            current = leg
        return current

    def driven_km(self, t_s: float) -> float:
        """Distance driven at time ``t_s`` (0 before departure, the whole route after arrival)."""
        if t_s <= self.departed_s:
            return 0.0
        leg = self._leg_at(t_s)
        return min(self.distance_km, leg.start_km + leg.speed_kmh * (t_s - leg.start_s) / 3600.0)

    def remaining_km(self, t_s: float) -> float:
        return max(0.0, self.distance_km - self.driven_km(t_s))

    def speed_kmh(self, t_s: float) -> float:
        """Speed at ``t_s``: the current leg's, 0 once arrived."""
        return 0.0 if self.arrived(t_s) else self._leg_at(t_s).speed_kmh

    def eta_s(self) -> float:
        """The moment the car arrives if nothing changes any more."""
        last = self.legs[-1]
        return last.start_s + (self.distance_km - last.start_km) / last.speed_kmh * 3600.0

    def arrived(self, t_s: float) -> bool:
        return t_s >= self.eta_s()

    def at_speed(self, t_s: float, speed_kmh: float) -> Trip:
        """The same route, driven at ``speed_kmh`` from ``t_s`` on."""
        _check_positive(speed_kmh=speed_kmh)
        return self._with_leg(t_s, speed_kmh)

    def rerouted(self, t_s: float, remaining_km: float, destination: str | None = None) -> Trip:
        """A new route from where the car is at ``t_s``: ``remaining_km`` still to go."""
        _check_positive(remaining_km=remaining_km)
        driven = self.driven_km(t_s)
        trip = replace(self, distance_km=driven + remaining_km, destination=destination or self.destination)
        return trip._with_leg(t_s, self._leg_at(t_s).speed_kmh)

    def _with_leg(self, t_s: float, speed_kmh: float) -> Trip:
        leg = Leg(t_s, self.driven_km(t_s), speed_kmh)
        kept = tuple(old for old in self.legs if old.start_s < t_s)
        return replace(self, legs=(*kept, leg) if kept else (leg,))


def energy_kwh(distance_km: float, consumption_kwh_per_100km: float) -> float:
    """Battery energy to drive ``distance_km`` at the given consumption."""
    return distance_km * consumption_kwh_per_100km / 100.0


def range_km(battery_kwh: float, consumption_kwh_per_100km: float) -> float:
    """Distance the energy left in the battery lasts at the given consumption."""
    return max(0.0, battery_kwh) / consumption_kwh_per_100km * 100.0


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            msg = f"{name} must be positive, not {value}"
            raise ValueError(msg)
