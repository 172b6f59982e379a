"""The home's voice assistant on a real broker (both brokers), in virtual time: requests heard by
the speaker, the phone and the car become device commands with a spoken reply; when several
devices hear one wake word within 300 ms only one answers."""

from __future__ import annotations

from typing import Any

from hyperhome.home.runtime import Home
from hyperhome.orchestrator.controller import Controller
from tests.integration.conftest import Recorder

WINDOW_S = 0.3


def events(recorder: Recorder, device: str, name: str) -> list[dict[str, Any]]:
    return recorder.json_on(f"/{device}/event/{name}")


async def hear(ctl: Controller, device: str, text: str, level_db: float, **more: Any) -> None:
    await ctl.send(device, "hear", {"text": text, "level_db": level_db, **more})


async def answered(home: Home) -> None:
    """Let the arbitration window close and the answer be given (all of it within one more second)."""
    await home.clock.sleep(WINDOW_S + 1.0)


async def test_a_chinese_request_to_the_speaker_sets_the_ac_and_the_speaker_answers(
    home: Home, controller: Controller, recorder: Recorder
) -> None:
    start = home.clock.now()
    await hear(controller, "speaker", "小爱同学，把客厅空调调到二十四度", 62)
    await answered(home)
    ac = controller.registry.devices["living-ac"].state or {}
    assert (ac["power"], ac["target_c"]) == (True, 24)
    (arbitration,) = events(recorder, "$orchestrator", "wake_arbitration")
    assert (arbitration["winner"], arbitration["rule"], arbitration["wake_word"]) == (
        "speaker",
        "only_candidate",
        "小爱同学",
    )
    (voice,) = events(recorder, "$orchestrator", "voice")
    assert voice["intent"] == "climate.set_temperature"
    assert voice["slots"] == {"room": "living", "device": "air_conditioner", "number": 24}
    assert (voice["outcome"], voice["lang"], voice["device"]) == ("done", "zh", "speaker")
    (spoke,) = events(recorder, "speaker", "spoke")
    assert spoke["text"] == voice["reply"] == "好的，客厅空调已调到24度。"
    assert spoke["ts"] == home.clock.iso(start + WINDOW_S), "answered as the 300 ms window closes"


async def test_an_english_request_to_the_phone_names_the_room_or_is_asked_which(
    home: Home, controller: Controller, recorder: Recorder
) -> None:
    await hear(controller, "phone", "Hey assistant, turn on the AC", 60)
    await answered(home)
    (unclear,) = events(recorder, "$orchestrator", "voice")
    assert (unclear["outcome"], unclear["reply"]) == ("failed", "There is more than one air conditioner: which room?")
    assert (controller.registry.devices["living-ac"].state or {})["power"] is False
    await hear(controller, "phone", "Hey assistant, turn on the bedroom AC please", 60)
    await answered(home)
    assert events(recorder, "$orchestrator", "voice")[-1]["outcome"] == "done"
    assert (controller.registry.devices["bedroom-ac"].state or {})["power"] is True
    assert [e["text"] for e in events(recorder, "phone", "spoke")] == [
        "There is more than one air conditioner: which room?",
        "OK, the bedroom air conditioner is on.",
    ]
    assert (controller.registry.devices["phone"].state or {})["last_spoken"] == "OK, the bedroom air conditioner is on."


async def test_only_the_loudest_of_the_devices_that_heard_the_wake_word_answers(
    home: Home, controller: Controller, recorder: Recorder
) -> None:
    await hear(controller, "speaker", "小爱同学，客厅现在多少度", 58)
    await home.clock.sleep(0.2)  # the phone hears it 200 ms later, louder: within the window
    await hear(controller, "phone", "小爱同学，客厅现在多少度", 66.5)
    await answered(home)
    (arbitration,) = events(recorder, "$orchestrator", "wake_arbitration")
    assert (arbitration["winner"], arbitration["rule"], arbitration["window_ms"]) == ("phone", "loudest", 300)
    assert [(c["device"], c["level_db"]) for c in arbitration["candidates"]] == [("speaker", 58), ("phone", 66.5)]
    assert events(recorder, "speaker", "spoke") == [], "the others stay silent"
    (spoke,) = events(recorder, "phone", "spoke")
    assert spoke["text"] == "客厅现在31度。"


async def test_same_loudness_the_first_heard_answers_and_at_the_same_instant_the_speaker(
    home: Home, controller: Controller, recorder: Recorder
) -> None:
    await hear(controller, "phone", "hey assistant, lock the door", 60)
    await home.clock.sleep(0.1)
    await hear(controller, "speaker", "hey assistant, lock the door", 60.04)  # equal to 0.1 dB
    await answered(home)
    await hear(controller, "phone", "hey assistant, lock the door", 60)
    await hear(controller, "speaker", "hey assistant, lock the door", 60)  # the same simulated instant
    await answered(home)
    first, second = events(recorder, "$orchestrator", "wake_arbitration")
    assert (first["winner"], first["rule"]) == ("phone", "first_heard")
    assert (second["winner"], second["rule"]) == ("speaker", "kind_priority")
    assert len(events(recorder, "phone", "spoke")) == len(events(recorder, "speaker", "spoke")) == 1


async def test_outside_the_window_each_wake_up_is_answered(
    home: Home, controller: Controller, recorder: Recorder
) -> None:
    await hear(controller, "speaker", "小爱同学，锁门", 60)
    await home.clock.sleep(WINDOW_S + 0.2)
    await hear(controller, "phone", "小爱同学，锁门", 70)
    await answered(home)
    assert [a["winner"] for a in events(recorder, "$orchestrator", "wake_arbitration")] == ["speaker", "phone"]
    assert len(events(recorder, "speaker", "spoke")) == len(events(recorder, "phone", "spoke")) == 1


async def test_unknown_requests_and_other_languages_get_a_polite_reply_and_no_wake_word_is_ignored(
    home: Home, controller: Controller, recorder: Recorder
) -> None:
    await hear(controller, "speaker", "把客厅空调调到二十度", 65)  # no wake word: conversation
    await answered(home)
    assert events(recorder, "$orchestrator", "wake_arbitration") == []
    await hear(controller, "speaker", "小爱同学，allume la climatisation du salon", 62)
    await answered(home)
    await hear(controller, "phone", "Hey assistant, schalte das Licht ein", 62)
    await answered(home)
    french, german = events(recorder, "$orchestrator", "voice")
    assert (french["intent"], french["outcome"], french["lang"]) == (None, "not_understood", "zh")
    assert (german["intent"], german["outcome"], german["lang"]) == (None, "not_understood", "en")
    assert events(recorder, "speaker", "spoke")[-1]["text"] == "抱歉，我没听懂。"
    assert events(recorder, "phone", "spoke")[-1]["text"] == "Sorry, I didn't understand that."
    assert (controller.registry.devices["living-ac"].state or {})["target_c"] == 26, "nothing was changed"


async def test_doors_are_not_opened_by_voice_and_an_offline_device_is_said_so(
    home: Home, controller: Controller, recorder: Recorder
) -> None:
    await hear(controller, "speaker", "小爱同学，开门", 60)
    await answered(home)
    refused = events(recorder, "$orchestrator", "voice")[-1]
    assert (refused["intent"], refused["outcome"]) == ("lock.unlock", "refused")
    assert (controller.registry.devices["door-lock"].state or {})["locked"] is True
    await home.devices["bedroom-ac"].stop()
    await hear(controller, "speaker", "hey assistant, set the bedroom AC to 25", 60)
    await answered(home)
    failed = events(recorder, "$orchestrator", "voice")[-1]
    assert (failed["outcome"], failed["reply"]) == (
        "failed",
        "The bedroom air conditioner is offline; try again later.",
    )
    await hear(controller, "speaker", "hey assistant, set the living room AC to 50 degrees", 60)
    await answered(home)
    too_hot = events(recorder, "$orchestrator", "voice")[-1]
    assert (too_hot["outcome"], too_hot["reply"]) == (
        "failed",
        "The living room air conditioner takes 16 to 30 degrees.",
    )


async def test_the_car_passes_home_requests_on_and_wins_when_it_already_acted(
    home: Home, controller: Controller, recorder: Recorder
) -> None:
    await hear(controller, "car", "hey assistant, turn off the living room AC", 64, zone="driver")
    await answered(home)
    (voice,) = events(recorder, "$orchestrator", "voice")
    assert (voice["device"], voice["zone"], voice["outcome"]) == ("car", "driver", "done")
    assert events(recorder, "car", "spoke")[-1] == {
        "ts": events(recorder, "car", "spoke")[-1]["ts"],
        "text": "OK, the living room air conditioner is off.",
        "zone": "driver",
    }
    # a phone in the cabin hears the rear-left passenger too, louder; the car already acted
    await hear(controller, "car", "小爱同学，打开车内空调", 55, zone="rear_left")
    await hear(controller, "phone", "小爱同学，打开车内空调", 68)
    await answered(home)
    arbitration = events(recorder, "$orchestrator", "wake_arbitration")[-1]
    assert (arbitration["winner"], arbitration["zone"], arbitration["rule"]) == ("car", "rear_left", "handled_locally")
    assert len(events(recorder, "$orchestrator", "voice")) == 1, "the orchestrator does not answer it again"
    assert events(recorder, "phone", "spoke") == []
    assert events(recorder, "car", "spoke")[-1]["text"] == "好的，左后座空调已打开。"
    assert (controller.registry.devices["car"].state or {})["climate_zones"] == ["rear_left"]


async def test_a_home_device_can_ask_for_the_car_climate(
    home: Home, controller: Controller, recorder: Recorder
) -> None:
    await hear(controller, "phone", "小爱同学，把副驾温度调到二十二度", 60)
    await answered(home)
    car = controller.registry.devices["car"].state or {}
    assert car["climate_zones"] == ["front_passenger"]
    assert car["zone_targets_c"]["front_passenger"] == 22
    assert events(recorder, "phone", "spoke")[-1]["text"] == "好的，副驾驶温度已调到22度。"


async def test_voice_parse_answers_what_the_grammar_makes_of_a_text(home: Home, controller: Controller) -> None:
    reply = await controller.request("$orchestrator", "voice.parse", {"text": "Hey assistant, set the AC to 23"})
    assert reply.result == {
        "wake_word": "hey assistant",
        "lang": "en",
        "request": "set the ac to 23",
        "intent": "climate.set_temperature",
        "slots": {"device": "air_conditioner", "number": 23},
    }
    bad = await controller.request("$orchestrator", "voice.parse", {"words": "hi"})
    assert bad.error is not None
    assert bad.error.code == "invalid_args"
