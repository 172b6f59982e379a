from __future__ import annotations

import pytest

from hyperhome.devices.physics import battery


def test_drain_and_clamp() -> None:
    assert battery.level_after(80, -1.0, 3600) == pytest.approx(79.0)
    assert battery.level_after(1, -13.0, 3600) == 0.0
    assert battery.level_after(90, 60.0, 3600) == 100.0


def test_time_to_level() -> None:
    assert battery.time_to_level_s(20, -13.0, 15) == pytest.approx(5 / 13 * 3600)
    assert battery.time_to_level_s(20, 1.0, 15) is None
    assert battery.time_to_level_s(20, 0.0, 15) is None
