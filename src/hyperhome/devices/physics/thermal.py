"""A room as one thermal mass, cooled or heated by an inverter air conditioner. Closed form.

The room exchanges heat with the outdoors through its envelope (Newton's law of cooling) and
the air conditioner adds or removes heat at its capacity until the room reaches the target,
then modulates to hold it there (an inverter unit holds the set point without cycling)::

    C dT/dt = UA (T_out - T) + Q          Q = -capacity (cool), +capacity (heat), 0 (off)

With Q constant this is solved exactly: ``T(t) = T_eq + (T0 - T_eq) exp(-t / tau)`` with
``tau = C / UA`` and ``T_eq = T_out + Q / UA``. So the state after any stretch of simulated time is
computed in one step, whatever the tick rate, and the time to reach a target is a logarithm.

Default constants, for a 20 m2 living room in a Chinese apartment with a 1.5 HP split unit:

- ``ua_w_per_k = 60``: envelope conductance. About 12 m2 of exterior wall at U = 1.0 W/(m2 K),
  4 m2 of window at U = 3.0 W/(m2 K), plus infiltration of 0.5 air changes/h of 50 m3
  (0.5 * 50 / 3600 * 1.2 kg/m3 * 1005 J/(kg K) = 8.4 W/K): 12 + 12 + 8.4 = 32 W/K, doubled for
  thermal bridges and an old building. U-values as in GB 50176-2016 (Code for thermal design of
  civil buildings) and the ASHRAE Handbook - Fundamentals, ch. 26-27.
- ``capacitance_j_per_k = 1.6e6``: effective internal heat capacity, ISO 13790:2008 table 12
  "very light" class, 80 000 J/(m2 K) x 20 m2 floor area. (The air alone is only 72 kJ/K.)
- ``cooling_capacity_w = 3500``, ``heating_capacity_w = 4000``: rated capacities of a typical
  "1.5 匹" (1.5 HP) residential split unit under GB/T 7725-2022 test conditions.
- ``cop_cooling = 3.5``, ``cop_heating = 3.6``: efficiency ratios near the middle of the
  GB 21455-2019 grades for fixed-speed to inverter units.
- ``fan_power_w = 35``: indoor fan motor at medium speed.
- Fan speed scales capacity: high/auto 100 %, medium 80 %, low 60 %; ``dry`` mode cools at 40 %.

With these, a room at 31 °C with 35 °C outside reaches 24 °C in about an hour on ``cool``/``high``,
and drifts back up with a time constant tau = C/UA of about 7.4 hours when the unit is off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Drive = Literal["cool", "heat", "off"]

FAN_FACTOR = {"auto": 1.0, "high": 1.0, "medium": 0.8, "low": 0.6}
DRY_FACTOR = 0.4


@dataclass(frozen=True, slots=True)
class RoomModel:
    ua_w_per_k: float = 60.0
    capacitance_j_per_k: float = 1.6e6
    cooling_capacity_w: float = 3500.0
    heating_capacity_w: float = 4000.0
    cop_cooling: float = 3.5
    cop_heating: float = 3.6
    fan_power_w: float = 35.0

    @property
    def tau_s(self) -> float:
        return self.capacitance_j_per_k / self.ua_w_per_k


@dataclass(frozen=True, slots=True)
class Hvac:
    """What the unit is doing: which way it pushes, how hard (W of heat), and its set point."""

    drive: Drive
    capacity_w: float = 0.0
    target_c: float = 24.0
    fan_on: bool = False


@dataclass(frozen=True, slots=True)
class Step:
    room_c: float
    energy_kwh: float
    reached_target: bool


def hvac_for(
    power: bool, mode: str, fan: str, target_c: float, room_c: float, model: RoomModel, outdoor_c: float | None = None
) -> Hvac:
    """Translate the unit's settings into a drive for the model.

    ``auto`` cools above the target and heats below it; exactly at the target it picks the way
    that holds it against the outdoors (cooling when it is warmer outside).
    """
    if not power:
        return Hvac("off")
    factor = FAN_FACTOR.get(fan, 1.0)
    if mode == "fan":
        return Hvac("off", fan_on=True)
    if mode == "dry":
        return Hvac("cool", model.cooling_capacity_w * DRY_FACTOR, target_c, fan_on=True)
    if mode == "auto":
        at_target = abs(room_c - target_c) < 1e-9
        warmer_outside = outdoor_c is not None and outdoor_c > target_c
        mode = "cool" if room_c > target_c or (at_target and warmer_outside) else "heat"
    if mode == "cool":
        return Hvac("cool", model.cooling_capacity_w * factor, target_c, fan_on=True)
    return Hvac("heat", model.heating_capacity_w * factor, target_c, fan_on=True)


def _settle_time_s(start_c: float, equilibrium_c: float, target_c: float, tau_s: float) -> float | None:
    """Time for an exponential approach from ``start_c`` towards ``equilibrium_c`` to pass ``target_c``."""
    if (start_c - equilibrium_c) * (target_c - equilibrium_c) <= 0:
        return None
    ratio = (start_c - equilibrium_c) / (target_c - equilibrium_c)
    return tau_s * math.log(ratio) if ratio >= 1 else None


def _approach(start_c: float, equilibrium_c: float, tau_s: float, t_s: float) -> float:
    return equilibrium_c + (start_c - equilibrium_c) * math.exp(-t_s / tau_s)


def _signed_q(hvac: Hvac) -> float:
    return -hvac.capacity_w if hvac.drive == "cool" else hvac.capacity_w if hvac.drive == "heat" else 0.0


def _working(room_c: float, hvac: Hvac) -> bool:
    """Does the unit have to push (room on the wrong side of the target)?"""
    if hvac.drive == "cool":
        return room_c > hvac.target_c + 1e-9
    if hvac.drive == "heat":
        return room_c < hvac.target_c - 1e-9
    return False


def _holding_power_w(outdoor_c: float, hvac: Hvac, model: RoomModel) -> float:
    """Heat the unit moves to hold the target exactly (0 when the envelope pulls the helpful way)."""
    loss = model.ua_w_per_k * (outdoor_c - hvac.target_c)
    needed = loss if hvac.drive == "cool" else -loss
    return min(max(needed, 0.0), hvac.capacity_w)


def time_to_target_s(room_c: float, outdoor_c: float, hvac: Hvac, model: RoomModel) -> float | None:
    """Seconds until the unit brings the room to ``hvac.target_c``; 0 if it is there or past it
    on the helpful side, None if the unit cannot get there (off, or too weak)."""
    if hvac.drive == "off":
        return None
    if not _working(room_c, hvac):
        return 0.0
    equilibrium = outdoor_c + _signed_q(hvac) / model.ua_w_per_k
    return _settle_time_s(room_c, equilibrium, hvac.target_c, model.tau_s)


def step(room_c: float, outdoor_c: float, hvac: Hvac, model: RoomModel, t_s: float) -> Step:
    """The room and the electricity used after ``t_s`` seconds of constant settings.

    Piecewise exact: pushing at full capacity until the target, holding it, or drifting with
    the unit idle (and picking up again when the drift reaches the target).
    """
    energy_kwh = model.fan_power_w * max(t_s, 0.0) / 3.6e6 if hvac.fan_on else 0.0
    reached = False
    remaining = max(t_s, 0.0)
    cop = model.cop_cooling if hvac.drive == "cool" else model.cop_heating
    for _ in range(4):  # at most: drift -> push -> hold, or push -> hold
        if remaining <= 0:
            break
        if hvac.drive == "off":
            room_c = _approach(room_c, outdoor_c, model.tau_s, remaining)
            break
        if _working(room_c, hvac):
            equilibrium = outdoor_c + _signed_q(hvac) / model.ua_w_per_k
            t_reach = _settle_time_s(room_c, equilibrium, hvac.target_c, model.tau_s)
            if t_reach is None or t_reach >= remaining:
                room_c = _approach(room_c, equilibrium, model.tau_s, remaining)
                energy_kwh += hvac.capacity_w * remaining / cop / 3.6e6
                break
            room_c, remaining, reached = hvac.target_c, remaining - t_reach, True
            energy_kwh += hvac.capacity_w * t_reach / cop / 3.6e6
            continue
        holding = _holding_power_w(outdoor_c, hvac, model)
        if abs(room_c - hvac.target_c) < 1e-9 and holding > 0:
            energy_kwh += holding * remaining / cop / 3.6e6
            break
        t_cross = _settle_time_s(room_c, outdoor_c, hvac.target_c, model.tau_s)
        if t_cross is None or t_cross >= remaining:
            room_c = _approach(room_c, outdoor_c, model.tau_s, remaining)
            break
        room_c, remaining = hvac.target_c, remaining - t_cross
    return Step(room_c, energy_kwh, reached)
