"""The flow status on the wire: built by the engine as ``FlowStatus``, byte-identical to the contract's
JSON (golden traces compare it) and read back by a controller through the same model."""

from __future__ import annotations

import json

from hyperhome.broker.client import Message
from hyperhome.broker.wire import TERMINAL_STATES, FlowState, FlowStatus, decode, dumps
from tests.unit.test_flow_engine import MiniHome, mini  # noqa: F401 - the fixture

KEYS = ["id", "kind", "state", "args", "user", "steps", "started", "ended", "error", "result"]


async def test_every_status_a_flow_publishes_round_trips_through_flow_status_byte_identically(mini: MiniHome) -> None:  # noqa: F811
    raw: list[bytes] = []

    def keep(message: Message) -> None:
        if message.payload:
            raw.append(message.payload)

    await mini.ctl.bus.subscribe(mini.ctl.topics.flow("+"), keep)
    flow_id = await mini.ctl.start_flow("wait", {"device": "phone", "wait_s": 2.5, "user": "alice"})
    final = await mini.ctl.wait_flow(flow_id, timeout_s=60)

    assert final.state == "succeeded"
    assert len(raw) >= 3  # pending/running, the step started and ended, the end
    for payload in raw:
        data = json.loads(payload)
        assert list(data) == KEYS  # the contract's order
        assert payload == dumps(data)  # compact, as every payload
        assert decode(FlowStatus, payload).to_payload() == payload
    assert (
        json.loads(raw[-1])
        == final.model_dump(mode="json")
        == {
            "id": flow_id,
            "kind": "wait",
            "state": "succeeded",
            "args": {"device": "phone", "wait_s": 2.5},
            "user": "alice",
            "steps": [{"name": "wait", "state": "done", "ts": final.steps[0].ts, "detail": {}}],
            "started": final.started,
            "ended": final.ended,
            "error": None,
            "result": {"waited_s": 2.5},
        }
    )


def test_fields_a_later_orchestrator_adds_pass_through_and_out_again() -> None:
    payload = dumps(
        {
            "id": "f-1",
            "kind": "k",
            "state": "running",
            "args": {},
            "user": None,
            "steps": [{"name": "s", "state": "running", "ts": "t", "detail": {"x": "é"}, "extra": 1}],
            "started": "t",
            "ended": None,
            "error": None,
            "result": None,
            "later": [1.5],
        }
    )
    assert decode(FlowStatus, payload).to_payload() == payload


def test_the_terminal_states_are_the_three_a_flow_ends_in() -> None:
    assert {s.value for s in TERMINAL_STATES} == {"succeeded", "failed", "cancelled"}
    assert [s.terminal for s in FlowState] == [False, False, True, True, True]


async def test_a_controller_holds_each_status_as_flow_status_and_ignores_a_malformed_one(mini: MiniHome) -> None:  # noqa: F811
    topics = mini.ctl.topics
    good = {"id": "f-ok", "kind": "wait", "state": "running", "steps": [{"name": "wait"}], "later": 1}
    await mini.ctl.bus.publish(topics.flow("f-ok"), dumps(good), retain=True)
    await mini.ctl.bus.publish(topics.flow("f-bad"), dumps({"id": "f-bad", "state": "exploded"}), retain=True)
    await mini.ctl.synced()

    assert "f-bad" not in mini.ctl.flows
    status = mini.ctl.flows["f-ok"]
    assert isinstance(status, FlowStatus)
    assert (status.state, status.state.terminal, status.steps[0].name, status.steps[0].state) == (
        FlowState.RUNNING,
        False,
        "wait",
        "running",
    )
    assert status.model_dump(mode="json")["later"] == 1  # what a later orchestrator adds passes through
