"""The voice service at its edges, on the in-memory bus: malformed utterances are dropped with a
warning, a failing intent still gets an answer, and stopping cancels a pending wake-up."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from hyperhome.broker.credentials import Login
from hyperhome.broker.memory import MemoryBroker
from hyperhome.broker.topics import ORCHESTRATOR, Topics
from hyperhome.broker.wire import dumps
from hyperhome.devices.base import DeviceSpec
from hyperhome.devices.clock import VirtualClock
from hyperhome.devices.speaker import Speaker
from hyperhome.orchestrator.controller import Controller
from hyperhome.orchestrator.service import Orchestrator
from hyperhome.orchestrator.voice import Answer, IntentHandler, VoiceService


@dataclass
class Rig:
    clock: VirtualClock
    broker: MemoryBroker
    topics: Topics
    voice: VoiceService
    speaker: Speaker
    ctl: Controller
    seen: list[tuple[str, dict[str, Any]]]

    def events(self, suffix: str) -> list[dict[str, Any]]:
        return [payload for topic, payload in self.seen if topic.endswith(suffix)]

    async def publish_as_speaker(self, name: str, payload: dict[str, Any]) -> None:
        assert self.speaker.bus is not None  # on the speaker's own connection, as its firmware would
        await self.speaker.bus.publish(self.topics.event("speaker", name), dumps(payload))
        await self.clock.settle()


@contextlib.asynccontextmanager
async def voice_rig(intents: dict[str, IntentHandler] | None = None) -> AsyncIterator[Rig]:
    clock, broker, topics = VirtualClock(), MemoryBroker(), Topics("test")
    voice = VoiceService(intents=intents)
    async with clock:
        clock.add_barrier(broker)
        spec = DeviceSpec(id="speaker", kind="speaker", room="living")
        speaker = Speaker(spec, home="test", clock=clock, topics=topics)
        await speaker.start(broker.connector, Login(username="test.speaker", password="-"))
        login = Login(username="test.$orchestrator", password="-")
        async with Orchestrator(broker.connector, login, topics, clock=clock, services=[voice]):
            ctl = Controller(broker.connector, Login(username="test.$controller", password="-"), topics, clock=clock)
            async with ctl:
                seen: list[tuple[str, dict[str, Any]]] = []
                await ctl.bus.subscribe(topics.all_of("event"), lambda m: seen.append((m.topic, m.json())))
                await clock.settle()
                yield Rig(clock, broker, topics, voice, speaker, ctl, seen)
        await speaker.stop()


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with voice_rig() as rig:
        yield rig


async def test_a_malformed_utterance_is_dropped_with_a_warning(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="hyperhome.orchestrator.voice"):
        await rig.publish_as_speaker("utterance", {"text": "小爱同学，锁门"})  # no level_db
        await rig.publish_as_speaker("utterance", {"text": 42, "level_db": "loud"})
    await rig.clock.sleep(1)
    assert rig.events(f"{ORCHESTRATOR}/event/wake_arbitration") == []
    warnings = [r.getMessage() for r in caplog.records]
    assert any("level_db: Field required" in w for w in warnings)
    assert any("text: Input should be a valid string" in w for w in warnings)
    await rig.ctl.send("speaker", "hear", {"text": "小爱同学，客厅现在多少度", "level_db": 60})
    await rig.clock.sleep(1)
    assert len(rig.events(f"{ORCHESTRATOR}/event/wake_arbitration")) == 1, "the service still works"


async def test_a_request_for_a_device_the_home_lacks_is_answered(rig: Rig) -> None:
    await rig.ctl.send("speaker", "hear", {"text": "小爱同学，把客厅空调调到二十四度", "level_db": 60})
    await rig.clock.sleep(1)
    (voice,) = rig.events(f"{ORCHESTRATOR}/event/voice")
    assert (voice["outcome"], voice["reply"]) == ("failed", "没有找到客厅空调。")
    assert rig.events("speaker/event/spoke")[-1]["text"] == "没有找到客厅空调。"


async def test_a_failing_intent_still_gets_an_answer(caplog: pytest.LogCaptureFixture) -> None:
    async def broken(*_: object) -> Answer:
        msg = "a bug"
        raise RuntimeError(msg)

    async with voice_rig({"lock.lock": broken}) as rig:
        with caplog.at_level(logging.ERROR, logger="hyperhome.orchestrator.voice"):
            await rig.ctl.send("speaker", "hear", {"text": "hey assistant, lock the door", "level_db": 60})
            await rig.clock.sleep(1)
        (voice,) = rig.events(f"{ORCHESTRATOR}/event/voice")
    assert (voice["outcome"], voice["reply"]) == ("failed", "Sorry, something went wrong; please say it again.")
    assert "a bug" in caplog.text


async def test_stopping_drops_a_wake_up_still_in_its_window(rig: Rig) -> None:
    await rig.ctl.send("speaker", "hear", {"text": "小爱同学，锁门", "level_db": 60})
    await rig.voice.stop()
    await rig.clock.sleep(1)
    assert rig.events(f"{ORCHESTRATOR}/event/wake_arbitration") == []
