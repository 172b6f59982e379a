"""The phone hears (for the home's voice assistant) and speaks replies."""

from __future__ import annotations

from hyperhome.devices.phone import Phone
from hyperhome.devices.testing import DeviceHarness


async def test_hear_publishes_an_utterance_and_say_speaks() -> None:
    async with DeviceHarness(Phone, device_id="phone", owner="alice") as h:
        assert await h.ok("hear", {"text": "Hey assistant, lock the door", "level_db": 64}) == {"heard": True}
        (utterance,) = h.events("utterance")
        assert (utterance["text"], utterance["level_db"]) == ("Hey assistant, lock the door", 64)
        assert await h.ok("say", {"text": "OK, the door lock is locked."}) == {"spoken": True}
        assert h.events("spoke")[-1]["text"] == "OK, the door lock is locked."
        assert h.published("state")[-1].json()["last_spoken"] == "OK, the door lock is locked."


async def test_bad_voice_input_is_invalid() -> None:
    async with DeviceHarness(Phone) as h:
        for command, args in (("hear", {"text": ""}), ("hear", {"text": "hi", "level_db": 200}), ("say", {})):
            reply = await h.command(command, args)
            assert reply.error is not None
            assert reply.error.code == "invalid_args"
        assert h.events("utterance") == h.events("spoke") == []
