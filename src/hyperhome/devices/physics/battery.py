"""Batteries as linear drain or charge at a load-dependent rate, clamped to 0..100 %.

Rates (per hour of simulated time), and where they come from:

- phone idle, screen off, radios on: 1.0 %/h. Standby tests of recent Android phones
  (GSMArena's "standby" figure in its battery life tests, 2023-2025) land between 0.5 and 1.5 %/h.
- phone cellular hotspot serving one client: +12 %/h on top. A 5,000 mAh phone lasts about 8 h
  as a hotspot in reviewers' tests, i.e. 12.5 %/h.
- phone charging at 20 W: +60 %/h (0 to 100 % in about 1 h 40 min with the taper).
"""

from __future__ import annotations


def level_after(level_pct: float, rate_pct_per_h: float, elapsed_s: float) -> float:
    """Battery level after ``elapsed_s`` seconds at a constant rate (negative drains)."""
    return min(100.0, max(0.0, level_pct + rate_pct_per_h * elapsed_s / 3600.0))


def time_to_level_s(level_pct: float, rate_pct_per_h: float, target_pct: float) -> float | None:
    """Seconds until the level reaches ``target_pct`` at this rate; None if it never does."""
    if rate_pct_per_h == 0 or (target_pct - level_pct) * rate_pct_per_h < 0:
        return None
    return (target_pct - level_pct) / rate_pct_per_h * 3600.0
