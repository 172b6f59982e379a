"""The seeded day generator (fleet/plan.py): the same seed gives the same days, whatever the sharding."""

from __future__ import annotations

from collections import Counter

import pytest

from hyperhome.broker.topics import ORCHESTRATOR
from hyperhome.devices import catalog
from hyperhome.fleet import homes
from hyperhome.fleet.plan import DAY_S, FIRST_DAY, JOIN_ORDER, HomePlan, plan_fleet, plan_home
from hyperhome.home.homefile import load_home
from hyperhome.orchestrator.flows import KINDS

DEMO = load_home("demo")


def _fleet(seed: int, count: int) -> list[HomePlan]:
    return plan_fleet(seed, [(i, homes.home_id(DEMO, i)) for i in range(count)], DEMO, days=2)


def test_the_same_seed_gives_the_same_plan_of_days() -> None:
    assert _fleet(7, 30) == _fleet(7, 30)


def test_another_seed_gives_other_days() -> None:
    first, other = _fleet(7, 30), _fleet(8, 30)
    assert [p.steps() for p in first] != [p.steps() for p in other]
    assert sum(a.joined != b.joined for a, b in zip(first, other, strict=True)) > 25


def test_a_home_s_plan_does_not_depend_on_the_fleet_or_its_shards() -> None:
    whole = _fleet(3, 40)
    shard = plan_fleet(3, [(i, homes.home_id(DEMO, i)) for i in range(1, 40, 4)], DEMO, days=2)
    assert shard == whole[1::4]


def test_homes_join_their_day_before_each_kind_of_episode_in_turn() -> None:
    plans = _fleet(1, 2 * len(JOIN_ORDER))
    for plan in plans:
        first = (
            plan.episodes[0]
            if plan.episodes[0].kind != "weather"
            else next(e for e in plan.episodes if e.kind != "weather")
        )
        assert first.kind == JOIN_ORDER[plan.index % len(JOIN_ORDER)]
        assert 0 < first.start - plan.joined <= 40
    kinds = Counter(e.kind for p in plans for e in p.episodes)
    assert set(kinds) >= {"weather", "leave", "return", "call", "hotspot", "visitor", "voice"}


def test_homes_joining_anytime_spread_over_the_day_and_start_in_the_state_of_their_moment() -> None:
    ids = [(i, homes.home_id(DEMO, i)) for i in range(240)]
    plans = plan_fleet(2, ids, DEMO, join="anytime")
    assert plans == plan_fleet(2, ids, DEMO, join="anytime")  # seeded
    assert plan_fleet(2, ids[5::7], DEMO, join="anytime") == plans[5::7]  # whatever the shards
    hours = Counter(int((p.joined - FIRST_DAY) // 3600) for p in plans)
    assert set(hours) == set(range(24))  # every hour of the day has homes joining it: no clustering
    assert max(hours.values()) <= 3 * 240 / 24
    for plan in plans:
        assert FIRST_DAY <= plan.joined < FIRST_DAY + DAY_S
        assert all(e.start >= plan.joined for e in plan.episodes)
    # a home that joins at night has its residents at home; one joining mid-morning on a workday
    # (between their leaving and coming back) has at least one away
    away = [p for p in plans if any(s.get("location") == "office" for s in p.start_state.values())]
    assert 0 < len(away) < len(plans)
    night = [p for p in plans if (p.joined - FIRST_DAY) < 4 * 3600]
    assert night
    assert not any(p in away for p in night)


def test_an_unknown_join_is_refused() -> None:
    with pytest.raises(ValueError, match="join must be one of episode, anytime, not 'noon'"):
        plan_home(1, 0, "demo-00000", DEMO, join="noon")  # type: ignore[arg-type]


def test_a_plan_covers_its_days_and_no_more() -> None:
    for plan in _fleet(5, 12):
        steps = plan.steps()
        assert steps == sorted(steps, key=lambda s: s.at)
        assert plan.joined <= steps[0].at
        assert steps[-1].at < plan.joined + 2 * DAY_S + 3 * 3600  # an episode begun in time may run on


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_step_is_a_command_its_device_takes_with_valid_args(seed: int) -> None:
    kinds = {spec.id: catalog.kind(spec.kind) for spec in DEMO.devices}
    for plan in _fleet(seed, 12):
        for step in plan.steps():
            if step.device == ORCHESTRATOR:
                KINDS[step.command].Args.model_validate(step.args)
                continue
            spec = kinds[step.device].commands[step.command]
            spec.args.model_validate(step.args)


def test_the_start_state_says_where_the_residents_are_when_the_home_joins() -> None:
    plans = _fleet(4, 2 * len(JOIN_ORDER))
    by_kind = {JOIN_ORDER[p.index % len(JOIN_ORDER)]: p for p in plans}
    assert by_kind["return"].start_state["phone"] == {"location": "office"}  # joined before coming home
    assert by_kind["leave"].start_state["phone"] == {"location": "home"}  # joined before leaving
    for plan in plans:
        home = homes.home_file(DEMO, plan)
        assert home.home == plan.home
        assert home.device("living-ac").state["outdoor_temp_c"] == plan.start_state["living-ac"]["outdoor_temp_c"]
        assert plan_home(4, plan.index, plan.home, DEMO, days=2) == plan
