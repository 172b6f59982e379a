"""The outbox's rules, with a bus that can be cut: order, the newest retained status, the bounds."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from hyperhome.broker.client import Acked, Payload, encode
from hyperhome.broker.outbox import Outbox
from hyperhome.errors import NotConnectedError


@dataclass
class CutBus:
    """Records what reached the broker; ``connected`` is set by the test; ``fail_after`` cuts it
    after that many more publishes. A message handed over without waiting (``publish_nowait``)
    is acknowledged at once, unless ``hold_acks``: then ``ack`` or ``cut`` answers it."""

    client_id: str = "demo.$orchestrator"
    connects: int = 1
    connected: bool = True
    fail_after: int | None = None
    hold_acks: bool = False
    sent: list[tuple[str, bytes, bool]] = field(default_factory=list)
    qos: list[tuple[str, int]] = field(default_factory=list)
    unacked: list[Acked] = field(default_factory=list)

    async def publish(self, topic: str, payload: Payload = None, *, qos: int = 1, retain: bool = False) -> None:
        self._send(topic, payload, qos, retain)

    def publish_nowait(
        self, topic: str, payload: Payload = None, *, qos: int = 1, retain: bool = False, acked: Acked | None = None
    ) -> None:
        self._send(topic, payload, qos, retain)
        if acked is not None:
            if self.hold_acks:
                self.unacked.append(acked)
            else:
                acked(True)

    def _send(self, topic: str, payload: Payload, qos: int, retain: bool) -> None:
        if self.fail_after == 0:
            self.connected = False
        if not self.connected:
            msg = f"not connected; cannot publish to {topic}"
            raise NotConnectedError(msg)
        if self.fail_after is not None:
            self.fail_after -= 1
        self.sent.append((topic, encode(payload), retain))
        self.qos.append((topic, qos))

    def ack(self, count: int) -> None:
        """The broker acknowledges the oldest ``count`` messages in flight."""
        for acked in self.unacked[:count]:
            acked(True)
        del self.unacked[:count]

    def cut(self) -> None:
        """The connection is lost: every message still in flight is reported lost."""
        self.connected = False
        for acked in self.unacked:
            acked(False)
        self.unacked.clear()


def topics(bus: CutBus) -> list[str]:
    return [topic for topic, _, _ in bus.sent]


async def test_connected_it_publishes_at_once() -> None:
    bus = CutBus()
    outbox = Outbox(bus)  # type: ignore[arg-type]
    await outbox.publish("flow/f-1", {"state": "running"}, retain=True)
    await outbox.publish("event/flow_started", {"flow_id": "f-1"})
    assert bus.sent == [
        ("flow/f-1", b'{"state":"running"}', True),
        ("event/flow_started", b'{"flow_id":"f-1"}', False),
    ]
    assert outbox.pending == 0


async def test_what_waited_goes_after_the_reconnect_in_order_and_the_newest_status_wins() -> None:
    bus = CutBus(connected=False)
    outbox = Outbox(bus)  # type: ignore[arg-type]
    await outbox.publish("flow/f-1", {"state": "running", "steps": 1}, retain=True)
    await outbox.publish("event/flow_ended", {"flow_id": "f-0"})
    await outbox.publish("flow/f-1", {"state": "failed", "steps": 2}, retain=True)
    assert outbox.pending == 2
    bus.connected = True
    await outbox.publish("event/flow_started", {"flow_id": "f-2"})  # queued behind the older ones
    assert bus.sent == []
    await outbox.flush()
    assert bus.sent == [
        ("event/flow_ended", b'{"flow_id":"f-0"}', False),
        ("flow/f-1", b'{"state":"failed","steps":2}', True),
        ("event/flow_started", b'{"flow_id":"f-2"}', False),
    ]
    assert outbox.pending == 0


async def test_every_reconnect_republishes_each_retained_topic_it_owns() -> None:
    bus = CutBus()
    outbox = Outbox(bus)  # type: ignore[arg-type]
    await outbox.publish("flow/f-1", {"state": "succeeded"}, retain=True)
    await outbox.publish("flow/f-2", {"state": "running"}, retain=True)
    await outbox.publish("event/x", {})
    bus.sent.clear()
    await outbox.flush()  # as after a broker restart that kept nothing
    assert bus.sent == [("flow/f-1", b'{"state":"succeeded"}', True), ("flow/f-2", b'{"state":"running"}', True)]


async def test_a_flush_cut_short_keeps_the_rest_for_the_next_one() -> None:
    bus = CutBus(connected=False)
    outbox = Outbox(bus)  # type: ignore[arg-type]
    for n in range(3):
        await outbox.publish(f"event/e{n}", {})
    bus.connected, bus.fail_after = True, 1
    await outbox.flush()
    assert topics(bus) == ["event/e0"]
    assert outbox.pending == 2
    bus.connected, bus.fail_after = True, None
    await outbox.flush()
    assert topics(bus) == ["event/e0", "event/e1", "event/e2"]


async def test_memory_is_bounded() -> None:
    bus = CutBus(connected=False)
    outbox = Outbox(bus, max_queued=3, max_retained=2)  # type: ignore[arg-type]
    for n in range(5):
        await outbox.publish(f"event/e{n}", {})
    for n in range(100):  # a status republished often while away takes one place
        await outbox.publish("flow/f-1", {"n": n}, retain=True)
    assert outbox.pending == 3
    assert outbox.dropped == 3
    for n in (2, 3):
        await outbox.publish(f"flow/f-{n}", {}, retain=True)
    assert sorted(outbox.retained) == ["flow/f-2", "flow/f-3"]  # the least recently updated forgotten
    bus.connected = True
    await outbox.flush()
    assert topics(bus) == ["flow/f-1", "flow/f-2", "flow/f-3"]
    assert bus.sent[0][1] == b'{"n":99}'


@pytest.mark.parametrize("retain", [False, True])
async def test_a_publish_never_raises_for_want_of_a_connection(retain: bool) -> None:
    outbox = Outbox(CutBus(connected=False))  # type: ignore[arg-type]
    await outbox.publish("flow/f-1", {}, retain=retain)
    assert outbox.pending == 1


async def test_retained_statuses_go_at_qos_0_events_at_qos_1_also_after_a_reconnect() -> None:
    """A retained status needs no PUBACK: the outbox republishes it itself after a reconnect."""
    bus = CutBus()
    outbox = Outbox(bus)  # type: ignore[arg-type]
    await outbox.publish("flow/f-1", {"state": "running"}, retain=True)
    await outbox.publish("event/flow_started", {"flow_id": "f-1"})
    bus.connected = False
    await outbox.publish("flow/f-1", {"state": "failed"}, retain=True)
    await outbox.publish("event/flow_ended", {"flow_id": "f-1"})
    bus.connected = True
    await outbox.flush()
    assert bus.qos == [
        ("flow/f-1", 0),
        ("event/flow_started", 1),
        ("flow/f-1", 0),  # the queued newer status, sent in the queue's order
        ("event/flow_ended", 1),
    ]


async def test_publish_does_not_wait_for_the_puback_and_keeps_the_message_until_it_comes() -> None:
    bus = CutBus(hold_acks=True)
    outbox = Outbox(bus)  # type: ignore[arg-type]
    await outbox.publish("event/e0", {})
    await outbox.publish("reply", {"id": "c-1"})
    assert topics(bus) == ["event/e0", "reply"]  # both on the wire, neither acknowledged yet
    assert outbox.pending == 2
    bus.ack(1)
    assert outbox.pending == 1
    bus.ack(1)
    assert outbox.pending == 0


async def test_what_was_in_flight_when_the_link_dropped_is_sent_again_first_and_in_order() -> None:
    bus = CutBus(hold_acks=True)
    outbox = Outbox(bus)  # type: ignore[arg-type]
    await outbox.publish("event/e0", {})
    bus.ack(1)
    await outbox.publish("event/e1", {})
    await outbox.publish("event/e2", {})
    bus.cut()  # e1 and e2 may or may not have reached the broker
    await outbox.publish("event/e3", {})  # no connection: queued behind them
    bus.connected = True
    await outbox.publish("event/e4", {})  # connected again, not yet flushed: still behind them
    assert topics(bus) == ["event/e0", "event/e1", "event/e2"]
    bus.sent.clear()
    bus.hold_acks = False
    await outbox.flush()
    assert topics(bus) == ["event/e1", "event/e2", "event/e3", "event/e4"]
    assert outbox.pending == 0
    await outbox.publish("event/e5", {})  # flushed: straight out again
    assert topics(bus)[-1] == "event/e5"
    assert outbox.pending == 0


async def test_a_broker_that_stops_acknowledging_makes_publish_wait_past_the_bound() -> None:
    bus = CutBus(hold_acks=True)
    outbox = Outbox(bus, max_queued=2)  # type: ignore[arg-type]
    for n in range(3):
        await outbox.publish(f"event/e{n}", {})
    assert len(bus.unacked) == 2  # the third went through the waiting publish
    assert topics(bus) == ["event/e0", "event/e1", "event/e2"]
    assert outbox.pending == 2
