"""Orchestrator services on the in-memory bus: they see device events, answer their own
commands with the wire's error codes, start flows, and are stopped before the orchestrator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from hyperhome.broker.credentials import Login
from hyperhome.broker.memory import MemoryBroker
from hyperhome.broker.topics import Topics
from hyperhome.devices.base import DeviceSpec
from hyperhome.devices.clock import VirtualClock
from hyperhome.devices.speaker import Speaker
from hyperhome.errors import CommandError, ErrorCode
from hyperhome.orchestrator.controller import Controller
from hyperhome.orchestrator.service import CommandHandler, Orchestrator


class Echo:
    """Records events; ``echo.count`` answers how many it saw, ``echo.fail`` always refuses."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []
        self.calls: list[str] = []
        self.orchestrator: Orchestrator | None = None

    @property
    def commands(self) -> Mapping[str, CommandHandler]:
        return {"echo.count": self._count, "echo.fail": self._fail}

    async def start(self, orchestrator: Orchestrator) -> None:
        self.calls.append("start")
        self.orchestrator = orchestrator

    async def stop(self) -> None:
        self.calls.append("stop")

    async def on_event(self, device: str, name: str, payload: dict[str, Any]) -> None:
        self.events.append((device, name, payload))
        if name == "spoke":
            msg = "a broken service must not stop the others"
            raise RuntimeError(msg)

    async def _count(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"events": len(self.events), "args": args}

    async def _fail(self, args: dict[str, Any]) -> dict[str, Any]:
        raise CommandError(ErrorCode.REJECTED, "echo refuses")


async def test_services_see_events_answer_commands_and_stop_first() -> None:
    clock, broker, topics = VirtualClock(), MemoryBroker(), Topics("test")
    first = Echo()
    async with clock:
        clock.add_barrier(broker)
        speaker = Speaker(DeviceSpec(id="speaker", kind="speaker"), home="test", clock=clock, topics=topics)
        await speaker.start(broker.connector, Login(username="test.speaker", password="-"))
        login = Login(username="test.$orchestrator", password="-")
        orchestrator = Orchestrator(broker.connector, login, topics, clock=clock, services=[first])
        async with orchestrator:
            assert first.calls == ["start"]
            assert first.orchestrator is orchestrator
            ctl = Controller(broker.connector, Login(username="test.$controller", password="-"), topics, clock=clock)
            async with ctl:
                await clock.settle()
                await ctl.send("speaker", "say", {"text": "hello"})
                await ctl.send("speaker", "hear", {"text": "hi", "level_db": 60})
                await clock.settle()
                assert [(d, n) for d, n, _ in first.events] == [("speaker", "spoke"), ("speaker", "utterance")]
                reply = await ctl.request("$orchestrator", "echo.count", {"x": 1})
                assert reply.ok
                assert reply.result == {"events": 2, "args": {"x": 1}}
                refused = await ctl.request("$orchestrator", "echo.fail", {})
                assert refused.error is not None
                assert (refused.error.code, refused.error.message) == ("rejected", "echo refuses")
                unknown = await ctl.request("$orchestrator", "nope", {})
                assert unknown.error is not None
                assert "echo.count" in unknown.error.message
        assert first.calls == ["start", "stop"]
        await speaker.stop()


def test_a_service_command_may_not_shadow_a_flow_or_another_service() -> None:
    broker, topics = MemoryBroker(), Topics("test")
    login = Login(username="test.$orchestrator", password="-")

    class Clash(Echo):
        @property
        def commands(self) -> Mapping[str, CommandHandler]:
            return {"precool": self._count}

    with pytest.raises(ValueError, match="'precool' is defined twice"):
        Orchestrator(broker.connector, login, topics, clock=VirtualClock(), services=[Clash()])
    with pytest.raises(ValueError, match=r"'echo\.count' is defined twice"):
        Orchestrator(broker.connector, login, topics, clock=VirtualClock(), services=[Echo(), Echo()])
