"""A car's cabin climate: five seat zones, each on or off with its own set point, and the one
thermal mass (physics/thermal.py) they drive.

``climate_zones`` lists the seat zones whose climate is on (``climate.set`` with ``power`` and
``zone`` switches one; without ``zone``, all five); ``climate_on`` is true while any is. The
one-mass cabin is driven to the mean set point of the zones that are on (of all five while none
is), cooling when the cabin is above it and heating below (at the set point, cooling when it is
hotter outside).

Cabin climate: the cabin is one thermal mass with an inverter heat pump, the same closed-form
model as a room (physics/thermal.py) with a car's constants; an order-of-magnitude sketch, not
measurements of an SU7:

- ``cabin_ua_w_per_k = 65``: about 4.5 m2 of glazing (windscreen, side and rear windows, glass
  roof) at U = 5.5 W/(m2 K) (single laminated glass with wind outside; single glazing is about
  5.9 in the ASHRAE Handbook - Fundamentals, ch. 15) = 25 W/K; about 8 m2 of trimmed body at
  2 W/(m2 K) = 16 W/K; 20 l/s of fresh air (10 l/s a person for two, the rate EN 16798-1 and
  ASHRAE 62.1 use) = 0.02 * 1.2 * 1005 = 24 W/K.
- ``cabin_capacitance_j_per_k = 8.0e4``: 3 m3 of air (3.6 kJ/K) plus the interior that follows
  within minutes, about 50 kg of seats, dashboard and trim at about 1.5 kJ/(kg K).
- ``cooling_capacity_w = heating_capacity_w = 5000``: a passenger-car air conditioner is sized
  at about 4-6 kW of cooling. ``cop_cooling = 2.5``, ``cop_heating = 2.0``: automotive heat pumps
  at 35 °C and near 0 °C outside run at about 2-3. ``blower_power_w = 150``: the cabin fan at
  medium speed.

Cross-check: holding 24 °C against 35 °C outside takes 65 * 11 / 2.5 + 150 = 0.44 kW; Xiaomi's
80 % summer range claim on CLTC implies 2.6 kWh/100 km extra at 29 km/h, 0.76 kW, which also
pays for the sun the model leaves out. Holding 22 °C at -7 °C: 65 * 29 / 2.0 + 150 = 1.1 kW.
With these, a cabin at 35 °C on a 35 °C day cools to 24 °C in about 3 minutes.
"""

from __future__ import annotations

from statistics import fmean
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator

from hyperhome.devices.base import Args, Omittable, requires_one_of
from hyperhome.devices.physics import thermal

Zone = Literal["driver", "front_passenger", "rear_left", "rear_center", "rear_right"]
ZONES: tuple[Zone, ...] = ("driver", "front_passenger", "rear_left", "rear_center", "rear_right")
SetPointC = Annotated[float, Field(ge=16, le=32)]


class ClimateSetArgs(Args):
    """At least one of power and target_c; with zone, they apply to that seat zone only."""

    model_config = ConfigDict(json_schema_extra=requires_one_of("power", "target_c"))

    power: Omittable[bool] = None
    """Switch the climate on or off: in every zone, or in zone only."""
    target_c: Omittable[float] = Field(None, ge=16, le=32)
    """Set point, °C: of every zone, or of zone only."""
    zone: Zone | None = None
    """The seat zone to set (default: all five)."""

    @model_validator(mode="after")
    def _something(self) -> ClimateSetArgs:
        if self.power is None and self.target_c is None:
            msg = "give power and/or target_c"
            raise ValueError(msg)
        return self


def zones_on(on_now: list[Zone], zones: tuple[Zone, ...], power: bool) -> list[Zone]:
    """The zones on after switching ``zones`` ``power``, in seat order."""
    on = set(on_now) | set(zones) if power else set(on_now) - set(zones)
    return [z for z in ZONES if z in on]


def hvac(
    *, on: bool, zones: list[Zone], targets_c: dict[Zone, float], cabin_c: float, outdoor_c: float,
    model: thermal.RoomModel,
) -> thermal.Hvac:  # fmt: skip
    """What the heat pump does now for the zones that are on (all five while none is)."""
    target = fmean(targets_c[z] for z in (zones or ZONES))
    if abs(cabin_c - target) < 1e-9:
        mode = "cool" if outdoor_c > target else "heat"
    else:
        mode = "cool" if cabin_c > target else "heat"
    return thermal.hvac_for(on, mode, "auto", target, cabin_c, model)
