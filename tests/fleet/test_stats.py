"""The fleet's counters: histograms that add up across workers, and a worker's lives summed."""

from __future__ import annotations

from typing import Any

from hyperhome.fleet.run import _Accounts
from hyperhome.fleet.stats import EDGES_MS, Stats, bucket, p99_ms, total


def _snap(stats: Stats, worker: str, pid: int) -> dict[str, Any]:
    return {**stats.snapshot(worker), "pid": pid}


def test_the_p99_is_the_edge_of_the_bucket_that_holds_it() -> None:
    stats = Stats()
    for _ in range(990):
        stats.lag_s(0.005)
    for _ in range(10):
        stats.lag_s(2.0)
    assert EDGES_MS[bucket(5.0)] >= 5.0 > EDGES_MS[bucket(5.0) - 1]
    assert 5.0 <= p99_ms(stats.lag) < 5.0 * 1.25
    stats.lag_s(2.0)  # one more slow one: now past the 99th
    assert 2000 <= p99_ms(stats.lag) < 2000 * 1.25
    assert p99_ms([0] * len(EDGES_MS)) == 0


def test_workers_add_up_and_a_restarted_worker_keeps_what_its_earlier_life_counted() -> None:
    first, other = Stats(), Stats()
    first.add("msgs_out", 100)
    first.add("homes_up", 3)
    other.add("msgs_out", 50)
    accounts = _Accounts()
    accounts.update({"w0": _snap(first, "w0", 11), "w1": _snap(other, "w1", 12)})
    assert total(accounts.workers())["msgs_out"] == 150
    again = Stats()  # w0's process died and Ray started it again: its counters begin at zero
    again.add("msgs_out", 7)
    again.add("homes_up", 3)
    accounts.update({"w0": _snap(again, "w0", 13)})
    summed = total(accounts.workers())
    assert summed["msgs_out"] == 100 + 7 + 50
    assert summed["restarts"] == 1
    assert summed["homes_up"] == 3  # what is up now, not over its lives
