"""What latency and stalls mean in simulated time (broker/faults/links.py): pure bookkeeping."""

from __future__ import annotations

import math

from hyperhome.broker.faults import LinkModel


def test_a_message_takes_the_latency_of_both_links_it_crosses() -> None:
    links = LinkModel()
    links.set_latency("phone", 1.0, now=0.0)
    links.set_latency("tablet", 0.3, now=0.0)
    assert links.due(links.passage(10.0, "phone", "tablet")) == 11.3
    assert links.due(links.passage(10.0, "phone", "$orchestrator")) == 11.0
    assert links.due(links.passage(10.0, "$orchestrator", "phone")) == 11.0
    assert links.due(links.passage(10.0, None, "tablet")) == 10.3  # a retained copy, a last will
    assert not links.affects("$orchestrator", "$controller")


def test_a_lower_latency_never_lets_a_message_overtake_one_on_its_way() -> None:
    links = LinkModel()
    links.set_latency("phone", 3.0, now=0.0)
    first = links.passage(0.0, "phone", "$orchestrator")  # leaves the phone's link at 3
    links.set_latency("phone", 0.0, now=1.0)
    second = links.passage(1.0, "phone", "$orchestrator")
    assert (links.due(first), links.due(second)) == (3.0, 3.0)
    later = links.passage(5.0, "phone", "$orchestrator")
    assert links.due(later) == 5.0  # once that one has arrived, the link is plain again


def test_a_stall_holds_what_would_cross_it_until_it_ends() -> None:
    links = LinkModel()
    links.stall("phone", now=2.0)
    before = links.passage(1.0, "phone", "tablet")
    out = links.passage(2.5, "phone", "tablet")
    into = links.passage(2.5, "tablet", "phone")
    assert links.due(before) == 1.0
    assert links.due(out) == math.inf
    assert links.due(into) == math.inf
    assert links.stalled("phone")
    links.resume("phone", now=4.0)
    assert (links.due(out), links.due(into)) == (4.0, 4.0)
    assert links.due(links.passage(4.5, "phone", "tablet")) == 4.5


def test_a_stall_also_holds_what_was_still_on_its_way() -> None:
    links = LinkModel()
    links.set_latency("phone", 1.0, now=0.0)
    on_its_way = links.passage(0.0, "phone", "tablet")  # due at 1
    links.stall("phone", now=0.5)
    assert links.left_at(on_its_way) == math.inf
    links.clear("phone", now=3.0)
    assert links.due(on_its_way) == 3.0
    assert links.latency_s("phone") == 0.0
