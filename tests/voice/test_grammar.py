"""The intent grammar on a table of utterances (Chinese and English): intent and slots expected.

Each row is what a person says to a speaker, a phone or a car seat, as the speech recogniser
writes it (full-width punctuation, numbers in words or digits, any case), and what the
assistant must make of it.
"""

from __future__ import annotations

from typing import Any

import pytest

from hyperhome.voice import Grammar, normalize

GRAMMAR = Grammar.default()


def full_width(text: str) -> str:
    """ASCII as a Chinese input method types it in full-width mode (U+FF01..U+FF5E, ideographic space)."""
    return "".join("\u3000" if c == " " else chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


# (utterance, wake word, lang, intent, slots)
TABLE: list[tuple[str, str | None, str, str | None, dict[str, Any]]] = [
    # -- home air conditioners: set point -----------------------------------------------------
    ("小爱同学，把客厅空调调到24度", "小爱同学", "zh", "climate.set_temperature",
     {"room": "living", "device": "air_conditioner", "number": 24}),
    ("小爱同学，把客厅空调调到二十四度", "小爱同学", "zh", "climate.set_temperature",
     {"room": "living", "device": "air_conditioner", "number": 24}),
    ("请把卧室的空调调到二十五点五度吧", None, "zh", "climate.set_temperature",
     {"room": "bedroom", "device": "air_conditioner", "number": 25.5}),
    ("空调设置为十八度", None, "zh", "climate.set_temperature", {"device": "air_conditioner", "number": 18}),
    ("小爱同学 书房冷气开到26度", "小爱同学", "zh", "climate.set_temperature",
     {"room": "study", "device": "air_conditioner", "number": 26}),
    ("把客厅温度调到二十三度", None, "zh", "climate.set_temperature", {"room": "living", "number": 23}),
    ("Hey assistant, set the living room AC to 24 degrees.", "hey assistant", "en", "climate.set_temperature",
     {"room": "living", "device": "air_conditioner", "number": 24}),
    ("hey assistant set the bedroom air conditioner to twenty five", "hey assistant", "en",
     "climate.set_temperature", {"room": "bedroom", "device": "air_conditioner", "number": 25}),
    ("OK assistant, please set the AC to 22.5", "ok assistant", "en", "climate.set_temperature",
     {"device": "air_conditioner", "number": 22.5}),
    ("set the temperature in the lounge to 23 degrees", None, "en", "climate.set_temperature",
     {"room": "living", "number": 23}),
    ("cool the bedroom to twenty four degrees", None, "en", "climate.set_temperature",
     {"room": "bedroom", "number": 24}),
    # -- switching things ------------------------------------------------------------------------
    ("Hey assistant, turn on the living room AC", "hey assistant", "en", "device.power",
     {"state": "on", "room": "living", "device": "air_conditioner"}),
    ("hey assistant, switch off the bedroom aircon", "hey assistant", "en", "device.power",
     {"state": "off", "room": "bedroom", "device": "air_conditioner"}),
    ("turn the air conditioner off", None, "en", "device.power", {"state": "off", "device": "air_conditioner"}),
    ("小爱同学，打开客厅空调", "小爱同学", "zh", "device.power",
     {"state": "on", "room": "living", "device": "air_conditioner"}),
    ("小爱同学，关闭卧室的空调", "小爱同学", "zh", "device.power",
     {"state": "off", "room": "bedroom", "device": "air_conditioner"}),
    ("帮我把空调关了", None, "zh", "device.power", {"state": "off", "device": "air_conditioner"}),
    ("打开门口的摄像头", None, "zh", "device.power", {"state": "on", "room": "entrance", "device": "camera"}),
    ("Hey assistant, turn off the door camera", "hey assistant", "en", "device.power",
     {"state": "off", "device": "camera"}),
    # -- the door ----------------------------------------------------------------------------------
    ("小爱同学，锁门", "小爱同学", "zh", "lock.lock", {}),
    ("把门锁上", None, "zh", "lock.lock", {}),
    ("hey assistant, lock the front door", "hey assistant", "en", "lock.lock", {}),
    ("小爱同学，开门", "小爱同学", "zh", "lock.unlock", {}),
    ("打开门锁", None, "zh", "lock.unlock", {}),
    ("Hey assistant, unlock the door please", "hey assistant", "en", "lock.unlock", {}),
    # -- how warm ------------------------------------------------------------------------------------
    ("小爱同学，客厅现在多少度？", "小爱同学", "zh", "climate.query", {"room": "living"}),
    ("卧室的温度是多少", None, "zh", "climate.query", {"room": "bedroom"}),
    ("室内几度", None, "zh", "climate.query", {}),
    ("Hey assistant, what's the temperature in the living room?", "hey assistant", "en", "climate.query",
     {"room": "living"}),
    ("how hot is it in the bedroom", None, "en", "climate.query", {"room": "bedroom"}),
    # -- the car ---------------------------------------------------------------------------------------
    ("打开车内空调", None, "zh", "car.climate", {"state": "on"}),
    ("把车里空调关掉", None, "zh", "car.climate", {"state": "off"}),
    ("小爱同学，打开副驾空调", "小爱同学", "zh", "car.climate", {"state": "on", "zone": "front_passenger"}),
    ("打开全车空调", None, "zh", "car.climate", {"state": "on", "zone": "all"}),
    ("关闭左后座空调", None, "zh", "car.climate", {"state": "off", "zone": "rear_left"}),
    ("把车内温度调到22度", None, "zh", "car.set_temperature", {"number": 22}),
    ("主驾温度调到二十度", None, "zh", "car.set_temperature", {"zone": "driver", "number": 20}),
    ("把后排右侧的温度设为二十六度", None, "zh", "car.set_temperature", {"zone": "rear_right", "number": 26}),
    ("打开空调", None, "zh", "device.power", {"state": "on", "device": "air_conditioner"}),
    ("Hey assistant, turn on the car AC", "hey assistant", "en", "car.climate", {"state": "on"}),
    ("turn on the climate for the rear left seat", None, "en", "car.climate", {"state": "on", "zone": "rear_left"}),
    ("turn off the AC for everyone", None, "en", "car.climate", {"state": "off", "zone": "all"}),
    ("set the cabin to twenty two degrees", None, "en", "car.set_temperature", {"number": 22}),
    ("set the driver's seat to 21", None, "en", "car.set_temperature", {"zone": "driver", "number": 21}),
    ("Set the temperature for the front passenger to 23 degrees", None, "en", "car.set_temperature",
     {"zone": "front_passenger", "number": 23}),
    # -- not understood: unknown requests, neither language, nothing at all ----------------------------
    ("小爱同学，今天天气怎么样", "小爱同学", "zh", None, {}),
    ("hey assistant, play some jazz", "hey assistant", "en", None, {}),
    ("Hey assistant, schalte das Licht im Wohnzimmer ein", "hey assistant", "en", None, {}),
    ("小爱同学，allume la climatisation du salon", "小爱同学", "zh", None, {}),
    ("Bonjour, allume la lumière", None, "en", None, {}),
    ("エアコンをつけて", None, "en", None, {}),
    ("hey assistant", "hey assistant", "en", None, {}),
    ("set the ac to banana degrees", None, "en", None, {}),
]  # fmt: skip


def test_the_table_is_big_enough_and_bilingual() -> None:
    assert len(TABLE) >= 40
    understood = [row for row in TABLE if row[3] is not None]
    assert sum(1 for row in understood if row[2] == "zh") >= 20
    assert sum(1 for row in understood if row[2] == "en") >= 18
    assert {row[3] for row in understood} == {i.name for i in GRAMMAR.intents}, "every intent is in the table"


@pytest.mark.parametrize(("text", "wake_word", "lang", "intent", "slots"), TABLE, ids=[row[0] for row in TABLE])
def test_utterance(text: str, wake_word: str | None, lang: str, intent: str | None, slots: dict[str, Any]) -> None:
    parse = GRAMMAR.parse(text)
    assert (parse.intent, parse.slots) == (intent, slots)
    assert parse.wake_word == wake_word
    assert parse.lang == lang
    assert parse.understood is (intent is not None)


def test_numbers_keep_their_type() -> None:
    assert type(GRAMMAR.parse("把客厅空调调到二十四度").slots["number"]) is int
    assert GRAMMAR.parse("set the ac to 24.5").slots["number"] == 24.5


@pytest.mark.parametrize(
    "text",
    ["", " ", "，。！", "\x00\x01", "🙂" * 200, "{room}", "[(|)]", "小爱同学" * 50, "hey assistant " * 30, "点点点度",
     "把客厅空调调到点度", "set the ac to . degrees", full_width("HEY ASSISTANT"), "\u200b\u200d"],
)  # fmt: skip
def test_any_text_parses_without_an_exception(text: str) -> None:
    parse = GRAMMAR.parse(text)
    assert parse.intent is None
    assert parse.lang in ("zh", "en")
    assert GRAMMAR.reply("not_understood", parse.lang)


def test_normalization_full_width_case_punctuation_and_spaces() -> None:
    assert normalize(full_width("HEY") + "\u3000Assistant， Turn ON the A/C!") == "hey assistant turn on the a c"
    assert normalize("把 客厅 空调 调到 24.5 度。") == "把客厅空调调到24.5度"
    typed = GRAMMAR.parse(full_width("HEY ASSISTANT, TURN ON THE AC"))
    assert (typed.wake_word, typed.intent) == ("hey assistant", "device.power")


def test_a_wake_word_must_end_at_a_word_boundary() -> None:
    assert GRAMMAR.wake("hey assistants are nice") is None
    assert GRAMMAR.wake("小爱同学打开空调") == ("小爱同学", "zh", "打开空调")
    assert GRAMMAR.wake("hey assistant, lock the door") == ("hey assistant", "en", "lock the door")


def test_replies_fill_placeholders_in_the_language_asked() -> None:
    assert GRAMMAR.reply("set_temperature", "zh", target="客厅空调", number=24) == "好的，客厅空调已调到24度。"
    assert GRAMMAR.reply("set_temperature", "en", target="living room air conditioner", number=24.5) == (
        "OK, the living room air conditioner is set to 24.5 degrees."
    )
    assert GRAMMAR.name("zone", "rear_left", "zh") == "左后座"
    assert GRAMMAR.name("room", "living", "en") == "living room"
