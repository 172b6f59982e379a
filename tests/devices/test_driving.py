"""The trip model: position is a closed-form function of time for piecewise-constant speed."""

from __future__ import annotations

import pytest

from hyperhome.devices.physics import driving

T0 = 1_000_000.0


def test_profiles_are_the_documented_average_speeds() -> None:
    assert driving.PROFILE_SPEEDS_KMH == {"city": 30.0, "mixed": 45.0, "highway": 90.0}


def test_constant_speed_trip_position_and_eta() -> None:
    trip = driving.Trip.begin("office", 20.0, 45.0, T0)
    assert trip.eta_s() == T0 + 1600.0
    assert trip.driven_km(T0) == 0.0
    assert trip.driven_km(T0 + 600) == pytest.approx(7.5)
    assert trip.remaining_km(T0 + 600) == pytest.approx(12.5)
    assert trip.speed_kmh(T0 + 600) == 45.0
    assert not trip.arrived(T0 + 1599.9)
    assert trip.arrived(T0 + 1600)


def test_after_arrival_position_clamps_and_speed_is_zero() -> None:
    trip = driving.Trip.begin("office", 20.0, 45.0, T0)
    assert trip.driven_km(T0 + 7200) == 20.0
    assert trip.remaining_km(T0 + 7200) == 0.0
    assert trip.speed_kmh(T0 + 7200) == 0.0


def test_slowing_down_keeps_position_continuous_and_moves_the_eta() -> None:
    trip = driving.Trip.begin("office", 20.0, 45.0, T0).at_speed(T0 + 600, 22.5)
    assert trip.driven_km(T0 + 600) == pytest.approx(7.5)
    assert trip.driven_km(T0 + 1600) == pytest.approx(7.5 + 22.5 * 1000 / 3600)
    assert trip.eta_s() == pytest.approx(T0 + 600 + 12.5 / 22.5 * 3600)
    assert trip.driven_km(T0 + 300) == pytest.approx(3.75), "the past is not rewritten"


def test_position_does_not_depend_on_how_often_it_is_asked() -> None:
    trip = driving.Trip.begin("office", 50.0, 90.0, T0).at_speed(T0 + 500, 40.0).at_speed(T0 + 1300, 70.0)
    summed, last = 0.0, T0
    for i in range(1, 3600 // 7 + 1):
        now = T0 + 7 * i
        summed += trip.driven_km(now) - trip.driven_km(last)
        last = now
    assert summed == pytest.approx(trip.driven_km(last), abs=1e-9)
    assert trip.driven_km(trip.eta_s()) == pytest.approx(50.0)


def test_reroute_counts_from_where_the_car_is() -> None:
    trip = driving.Trip.begin("office", 20.0, 45.0, T0).rerouted(T0 + 600, 30.0, "airport")
    assert trip.destination == "airport"
    assert trip.distance_km == pytest.approx(37.5)
    assert trip.driven_km(T0 + 600) == pytest.approx(7.5)
    assert trip.eta_s() == pytest.approx(T0 + 600 + 30.0 / 45.0 * 3600)


def test_change_at_the_departure_instant_replaces_the_first_leg() -> None:
    trip = driving.Trip.begin("office", 30.0, 45.0, T0).at_speed(T0, 90.0)
    assert len(trip.legs) == 1
    assert trip.eta_s() == T0 + 1200.0


@pytest.mark.parametrize(("distance_km", "speed_kmh"), [(0.0, 45.0), (-5.0, 45.0), (10.0, 0.0), (10.0, -1.0)])
def test_non_positive_distance_or_speed_is_refused(distance_km: float, speed_kmh: float) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        driving.Trip.begin("office", distance_km, speed_kmh, T0)


def test_energy_and_range_follow_the_consumption() -> None:
    assert driving.energy_kwh(100.0, 15.0) == pytest.approx(15.0)
    assert driving.energy_kwh(20.0, 15.0) == pytest.approx(3.0)
    assert driving.range_km(73.6, 15.0) == pytest.approx(490.667, abs=1e-3)
    assert driving.range_km(-1.0, 15.0) == 0.0
