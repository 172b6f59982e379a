"""The barrier proves quiet by counting deliveries, and falls back to a round when it cannot.

A camera at 30 fps in virtual time is the case this exists for: each frame is one message to
one viewer, and proving it handled must not cost a round of tokens through the broker.
"""

from __future__ import annotations

from hyperhome.broker.client import BusClient
from hyperhome.home.homefile import load_home
from hyperhome.home.runtime import Home


async def test_frames_are_proven_handled_without_barrier_rounds(broker_kind: str) -> None:
    async with Home(load_home("demo"), broker=broker_kind) as home, home.controller() as ctl:
        await ctl.synced()
        barrier = home.barrier
        assert barrier is not None
        await ctl.send("tablet", "call.start", {})  # the call shows the tablet's own camera
        await home.clock.sleep(1)
        rounds, proofs = barrier.rounds, barrier.counted_proofs
        await home.clock.sleep(2)  # 60 frame instants
        assert barrier.counted_proofs - proofs >= 60
        assert barrier.rounds - rounds <= 2  # the clock's own wake-ups, never one per frame
        assert barrier.delivery_timeouts == 0
        tablet = home.devices["tablet"]
        await tablet.publish_state()  # brings its frame counters into state
        # 3 s at 30 fps: every frame arrived and was handled before time moved past it
        assert tablet.state.model_dump()["frames_received"] >= 90


async def test_a_delivery_that_never_comes_costs_a_round_not_a_hang(broker_kind: str) -> None:
    async with Home(load_home("demo"), broker=broker_kind) as home, home.controller() as ctl:
        await ctl.synced()
        barrier = home.barrier
        assert barrier is not None
        await home.clock.sleep(1)
        rounds = barrier.rounds
        phone = home.devices["phone"].bus
        assert isinstance(phone, BusClient)
        # as if the broker dropped a QoS 0 message: announced to the barrier, never sent
        barrier.published(phone, home.topics.availability("phone"), b"lost")
        await home.clock.sleep(60)
        assert barrier.delivery_timeouts == 1
        assert barrier.rounds > rounds
        await ctl.send("living-ac", "set", {"target_c": 25})  # and the home still works
        await ctl.synced()
        view = ctl.registry.devices["living-ac"]
        assert view.state is not None
        assert view.state["target_c"] == 25
