"""Two runs of the same story give the same state trace, to the message."""

from __future__ import annotations

from hyperhome.broker.client import Message
from hyperhome.home.homefile import HomeFile
from hyperhome.home.runtime import Home


async def _trace(broker_kind: str, plan: HomeFile) -> list[tuple[str, bytes]]:
    seen: list[Message] = []
    async with Home(plan, broker=broker_kind) as home, home.controller() as ctl:
        await ctl.synced()
        await ctl.bus.subscribe(ctl.topics.state("living-ac"), seen.append)
        await ctl.bus.subscribe(ctl.topics.event("living-ac", "#"), seen.append)
        await ctl.send("living-ac", "set", {"power": True, "target_c": 24, "fan": "high"})
        await home.clock.sleep(1200)
        await ctl.send("living-ac", "set", {"fan": "low"})
        await home.clock.sleep(3600)
        await ctl.send("living-ac", "power", {"on": False})
        await home.clock.sleep(600)
    return [(m.topic, m.payload) for m in seen if not m.retain]


async def test_two_runs_give_identical_state_traces(broker_kind: str, plan: HomeFile) -> None:
    first = await _trace(broker_kind, plan)
    second = await _trace(broker_kind, plan)
    assert len(first) > 60  # a state per simulated minute while the room changes, and the event
    assert first == second
