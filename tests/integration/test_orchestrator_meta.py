"""The orchestrator says what it runs: its retained ``$meta`` lists its flow kinds (both brokers, real ACLs)."""

from __future__ import annotations

from hyperhome.broker.topics import ORCHESTRATOR
from hyperhome.home.runtime import Home
from hyperhome.orchestrator.controller import Controller
from hyperhome.orchestrator.flows import KINDS


async def test_the_orchestrator_meta_lists_its_flow_kinds_to_a_controller(home: Home, controller: Controller) -> None:
    kinds = await controller.flow_kinds(timeout_s=5.0)
    assert kinds == set(KINDS)
    meta = controller.orchestrator_meta
    assert meta is not None
    assert meta.home == home.topics.home
    assert meta.flows == sorted(KINDS)
    assert "flow.cancel" in meta.commands
    assert ORCHESTRATOR not in controller.registry.devices  # not a device, whatever reads $meta


async def test_a_controller_that_connects_later_reads_it_retained(home: Home, controller: Controller) -> None:
    await controller.flow_kinds(timeout_s=5.0)
    async with home.controller() as late:
        assert await late.flow_kinds(timeout_s=5.0) == set(KINDS)
