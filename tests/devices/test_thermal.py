"""The room model: closed form, so the result never depends on how often it is stepped."""

from __future__ import annotations

import math

import pytest

from hyperhome.devices.physics import thermal

MODEL = thermal.RoomModel()
COOL_24 = thermal.Hvac("cool", MODEL.cooling_capacity_w, 24.0, fan_on=True)


def test_pull_down_from_31_to_24_takes_about_an_hour_and_then_holds() -> None:
    eta = thermal.time_to_target_s(31.0, 35.0, COOL_24, MODEL)
    assert eta is not None
    assert 50 * 60 < eta < 70 * 60
    just_before = thermal.step(31.0, 35.0, COOL_24, MODEL, eta - 60)
    assert 24.0 < just_before.room_c < 24.2
    assert not just_before.reached_target
    after = thermal.step(31.0, 35.0, COOL_24, MODEL, eta + 3600)
    assert after.room_c == pytest.approx(24.0)
    assert after.reached_target


def test_result_does_not_depend_on_step_size() -> None:
    one = thermal.step(31.0, 35.0, COOL_24, MODEL, 7200)
    room, energy = 31.0, 0.0
    for _ in range(7200 // 7):
        s = thermal.step(room, 35.0, COOL_24, MODEL, 7)
        room, energy = s.room_c, energy + s.energy_kwh
    rest = thermal.step(room, 35.0, COOL_24, MODEL, 7200 % 7)
    assert rest.room_c == pytest.approx(one.room_c, abs=1e-6)
    assert energy + rest.energy_kwh == pytest.approx(one.energy_kwh, rel=1e-6)


def test_curve_matches_newtons_law() -> None:
    t = 1200.0
    equilibrium = 35.0 - MODEL.cooling_capacity_w / MODEL.ua_w_per_k
    expected = equilibrium + (31.0 - equilibrium) * math.exp(-t / MODEL.tau_s)
    assert thermal.step(31.0, 35.0, COOL_24, MODEL, t).room_c == pytest.approx(expected)


def test_off_drifts_towards_outdoor_with_tau() -> None:
    off = thermal.Hvac("off")
    after_tau = thermal.step(24.0, 35.0, off, MODEL, MODEL.tau_s).room_c
    assert after_tau == pytest.approx(35.0 - 11.0 / math.e)
    assert thermal.step(24.0, 35.0, off, MODEL, 3600).energy_kwh == 0.0


def test_holding_uses_envelope_losses_over_cop() -> None:
    hold = thermal.step(24.0, 35.0, COOL_24, MODEL, 3600)
    expected = MODEL.ua_w_per_k * 11.0 / MODEL.cop_cooling / 1000 + MODEL.fan_power_w / 1000
    assert hold.room_c == pytest.approx(24.0)
    assert hold.energy_kwh == pytest.approx(expected)


def test_room_below_target_in_cool_mode_drifts_up_then_holds() -> None:
    drift = thermal.step(22.0, 35.0, COOL_24, MODEL, 3 * 3600)
    assert drift.room_c == pytest.approx(24.0)
    short = thermal.step(22.0, 35.0, COOL_24, MODEL, 600)
    assert 22.0 < short.room_c < 24.0


def test_heating_and_unreachable_targets() -> None:
    heat = thermal.Hvac("heat", MODEL.heating_capacity_w, 22.0, fan_on=True)
    eta = thermal.time_to_target_s(15.0, 5.0, heat, MODEL)
    assert eta is not None
    assert eta > 0
    weak = thermal.Hvac("cool", 300.0, 20.0, fan_on=True)  # 300 W cannot beat 60 W/K x 15 K
    assert thermal.time_to_target_s(31.0, 35.0, weak, MODEL) is None
    assert thermal.time_to_target_s(31.0, 35.0, thermal.Hvac("off"), MODEL) is None


def test_settings_map_to_drives() -> None:
    assert thermal.hvac_for(False, "cool", "auto", 24, 30, MODEL).drive == "off"
    assert thermal.hvac_for(True, "auto", "auto", 24, 30, MODEL).drive == "cool"
    assert thermal.hvac_for(True, "auto", "auto", 24, 20, MODEL).drive == "heat"
    low = thermal.hvac_for(True, "cool", "low", 24, 30, MODEL)
    assert low.capacity_w == pytest.approx(0.6 * MODEL.cooling_capacity_w)
    fan_only = thermal.hvac_for(True, "fan", "high", 24, 30, MODEL)
    assert fan_only.drive == "off"
    assert fan_only.fan_on


def test_auto_at_target_holds_against_the_outdoors() -> None:
    summer = thermal.hvac_for(True, "auto", "auto", 24, 24, MODEL, outdoor_c=35)
    winter = thermal.hvac_for(True, "auto", "auto", 22, 22, MODEL, outdoor_c=5)
    assert (summer.drive, winter.drive) == ("cool", "heat")
    held = thermal.step(24, 35, summer, MODEL, 3600)
    assert held.room_c == pytest.approx(24.0)
    assert held.energy_kwh > 0.1  # holding 24 against 35 costs electricity
