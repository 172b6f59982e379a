"""The smart speaker alone, in virtual time on the in-memory bus."""

from __future__ import annotations

from typing import Any

from hyperhome.devices.speaker import Speaker
from hyperhome.devices.testing import DeviceHarness


def last_state(h: DeviceHarness[Speaker]) -> dict[str, Any]:
    state: dict[str, Any] = h.published("state")[-1].json()
    return state


async def test_hear_publishes_the_utterance_for_the_orchestrator() -> None:
    async with DeviceHarness(Speaker, device_id="kitchen-speaker") as h:
        states_before = len(h.published("state"))
        result = await h.ok("hear", {"text": "cool the living room to 24", "level_db": 62})
        assert result == {"heard": True}
        (utterance,) = h.events("utterance")
        assert utterance["text"] == "cool the living room to 24"
        assert utterance["level_db"] == 62
        assert utterance["ts"] == h.clock.iso()
        assert len(h.published("state")) == states_before  # hearing changes no state


async def test_too_quiet_or_with_the_microphone_off_nothing_is_heard() -> None:
    async with DeviceHarness(Speaker) as h:
        whisper = await h.ok("hear", {"text": "psst", "level_db": 30})
        assert whisper["heard"] is False
        await h.ok("set", {"microphone": False})
        result = await h.ok("hear", {"text": "hello", "level_db": 70})
        assert result == {"heard": False, "reason": "the microphone is off"}
        assert h.events("utterance") == []
        await h.ok("say", {"text": "microphone is off"})  # it can still speak
        assert h.events("spoke")[-1]["text"] == "microphone is off"


async def test_say_speaks_and_keeps_the_last_text() -> None:
    async with DeviceHarness(Speaker) as h:
        await h.ok("set", {"volume_pct": 65})
        assert await h.ok("say", {"text": "The living room will be 24 degrees at 18:00."}) == {
            "spoken": True,
            "volume_pct": 65,
        }
        await h.ok("say", {"text": "Welcome home."})
        assert [e["text"] for e in h.events("spoke")] == [
            "The living room will be 24 degrees at 18:00.",
            "Welcome home.",
        ]
        assert h.events("spoke")[-1]["volume_pct"] == 65
        assert last_state(h)["last_spoken"] == "Welcome home."
        assert last_state(h)["volume_pct"] == 65


async def test_muted_rejects_say_but_still_hears() -> None:
    async with DeviceHarness(Speaker) as h:
        await h.ok("set", {"muted": True})
        before = h.state.model_copy()
        reply = await h.command("say", {"text": "hello"})
        assert reply.error is not None
        assert reply.error.code == "rejected"
        assert "muted" in reply.error.message
        assert h.state == before
        assert h.events("spoke") == []
        assert (await h.ok("hear", {"text": "unmute", "level_db": 60}))["heard"] is True
        assert len(h.events("utterance")) == 1
        await h.ok("set", {"muted": False})
        await h.ok("say", {"text": "hello"})
        assert len(h.events("spoke")) == 1


async def test_bad_input_is_invalid_and_changes_nothing() -> None:
    async with DeviceHarness(Speaker) as h:
        before = h.state.model_copy()
        for command, args in (
            ("set", {}),
            ("set", {"volume_pct": 150}),
            ("set", {"muted": None}),
            ("say", {"text": ""}),
            ("hear", {"text": "hi"}),
            ("hear", {"text": "hi", "level_db": 200}),
        ):
            reply = await h.command(command, args)
            assert reply.error is not None
            assert reply.error.code == "invalid_args", (command, args)
        assert h.state == before
        assert h.events("utterance") == []
