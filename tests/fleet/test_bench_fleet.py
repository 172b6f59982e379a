"""``hyperhome bench fleet``: a step is measured in a window after every home is up, and holds
only when the state publishes due in it were done in time."""

from __future__ import annotations

import pytest

from hyperhome.bench import fleet

pytestmark = pytest.mark.mosquitto


@pytest.mark.timeout(120)
async def test_a_small_fleet_holds_and_says_where_the_cost_goes(mosquitto_available: None) -> None:
    result = await fleet.run(devices=[18, 36], workers=2, period_s=1.0, window_s=3.0)
    steps = result.figures["mosquitto"]["steps"]
    assert [s["devices"] for s in steps] == [18, 36]
    for step in steps:
        assert step["holds"], step
        assert step["publishes_done_pct"] >= 95
        assert 0 < step["lag_p99_ms"] < 1000
        assert step["errors"] == 0
        assert step["msgs_per_s"] >= step["devices"] * 0.95  # at least the state publishes, each sent once
        assert step["worker_cores"] > 0
        assert step["broker_cores"] is not None
        assert step["broker_rss_mb"] > 0
        assert step["us_per_message"] > 0
    assert "marginal_kb_per_device" in steps[1]
    assert result.figures["mosquitto"]["max_devices_held"] == 36
    assert result.notes == ["fleet on mosquitto: held 36 devices (target 20,000)"]
