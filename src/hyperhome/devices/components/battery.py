"""A phone's battery: the precise level behind the rounded one in state, and its low-level alarm.

The level moves linearly at a rate that depends on what runs (physics/battery.py, with its
sources). ``low_battery`` is due once per downward crossing of ``low_pct``; the alarm re-arms once
the level is back at ``rearm_pct`` (``low_pct`` plus AOSP's close-warning bump). The kind
schedules the alarm at ``seconds_to_low`` and re-plans it whenever the rate changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from hyperhome.devices.physics import battery


@dataclass
class Battery:
    """Plain data (shadow state): the exact level, and whether the low alarm is armed."""

    pct: float
    low_pct: float
    rearm_pct: float
    armed: bool

    @classmethod
    def at(cls, pct: float, *, low_pct: float, rearm_bump_pct: float) -> Battery:
        return cls(pct, low_pct, low_pct + rearm_bump_pct, armed=pct > low_pct)

    def advance(self, rate_pct_per_h: float, elapsed_s: float) -> None:
        """``elapsed_s`` at ``rate_pct_per_h``; the alarm re-arms once the level is back at ``rearm_pct``."""
        self.pct = battery.level_after(self.pct, rate_pct_per_h, elapsed_s)
        if not self.armed and self.pct >= self.rearm_pct:
            self.armed = True

    def seconds_to_low(self, rate_pct_per_h: float) -> float | None:
        """When the armed alarm is due at this rate (None: disarmed, or the level never gets there)."""
        return battery.time_to_level_s(self.pct, rate_pct_per_h, self.low_pct) if self.armed else None

    def fire(self) -> None:
        """The alarm went off: disarmed until the level is back at ``rearm_pct``."""
        self.armed = False

    def minutes_to_empty(self, rate_pct_per_h: float) -> float | None:
        seconds = battery.time_to_level_s(self.pct, rate_pct_per_h, 0.0)
        return None if seconds is None else round(seconds / 60.0, 1)
