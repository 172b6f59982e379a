"""Users extend the grammar with their own YAML files: words, patterns, wake words, replies.
A file that does not fit is refused with its name and line, before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from hyperhome.errors import ConfigError
from hyperhome.home.grammarfile import load_grammar
from hyperhome.home.homefile import load_home
from hyperhome.home.runtime import Home

FAMILY = """\
wake_words: {en: [hey home]}
fillers: {en: [kindly]}
slots:
  room:
    living: {zh: [起居室], en: [family room]}
    kids: {zh: [儿童房], en: [kids room, nursery], say: {zh: 儿童房}}
intents:
  device.power:
    en: ["make [the] [{room}] {device} {state}"]
replies:
  not_understood: {en: "Pardon? Try 'turn on the living room AC'."}
"""


def write(tmp_path: Path, text: str, name: str = "family.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_an_extension_adds_words_patterns_wake_words_and_replies(tmp_path: Path) -> None:
    grammar = load_grammar([write(tmp_path, FAMILY)])
    own = grammar.parse("Hey home, kindly make the family room AC on")
    assert (own.wake_word, own.intent, own.slots) == (
        "hey home", "device.power", {"room": "living", "device": "air_conditioner", "state": "on"}
    )  # fmt: skip
    assert grammar.parse("打开儿童房空调").slots == {"state": "on", "room": "kids", "device": "air_conditioner"}
    assert grammar.parse("turn off the nursery ac").slots["room"] == "kids"
    assert grammar.name("room", "kids", "zh") == "儿童房"
    default = grammar.parse("小爱同学，把客厅空调调到二十四度")
    assert (default.intent, default.slots["room"]) == ("climate.set_temperature", "living"), "the default still works"
    assert grammar.reply("not_understood", "en").startswith("Pardon?")
    assert grammar.reply("not_understood", "zh") == "抱歉，我没听懂。", "a reply not overridden stays"


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        ("intents:\n  lights.on:\n    en: [lights on]\n", 2, "no intent 'lights.on' to extend"),
        ("intents:\n  device.power:\n    en:\n      - turn on the {gadget}\n", 4, "unknown slot {gadget}"),
        ("intents:\n  device.power:\n    zh: ['打开[{device}']\n", 3, "unclosed '['"),
        ("slots:\n  number: {one: {en: [one]}}\n", 1, "'number' is built in"),
        ("wake_words: {de: [hallo]}\n", 1, "wake_words.de"),
        ("slots:\n  room:\n    kids: {en: kids room}\n", 3, "slots.room.kids.en"),
    ],
)
def test_a_file_that_does_not_fit_names_its_line(tmp_path: Path, text: str, line: int, says: str) -> None:
    path = write(tmp_path, text, "bad.yaml")
    with pytest.raises(ConfigError) as caught:
        load_grammar([path])
    message = str(caught.value)
    assert f"{path}:{line}:" in message
    assert says in message


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_grammar([tmp_path / "nope.yaml"])


def test_the_home_file_names_grammar_files_relative_to_itself(tmp_path: Path) -> None:
    (tmp_path / "words").mkdir()
    write(tmp_path / "words", FAMILY)
    home = tmp_path / "home.yaml"
    home.write_text(
        "home: test\nresidents: [alice]\nvoice: {grammar: [words/family.yaml], window_ms: 500}\n"
        "devices:\n  - {id: speaker, kind: speaker, room: living}\n",
        encoding="utf-8",
    )
    plan = load_home(home)
    assert plan.voice.grammar == [str((tmp_path / "words" / "family.yaml").resolve())]
    assert plan.voice.window_ms == 500
    write(tmp_path / "words", "intents: {nope: {en: [x]}}\n")
    with pytest.raises(ConfigError, match=r"family\.yaml:1: intents\.nope"):
        load_home(home)


def test_a_home_takes_grammar_files_and_refuses_a_bad_one_when_built(tmp_path: Path) -> None:
    home = Home(load_home("demo"), grammar=[write(tmp_path, FAMILY)])
    assert home.grammar.parse("hey home, make the nursery ac off").slots["room"] == "kids"
    with pytest.raises(ConfigError, match=r"bad\.yaml:1: intents\.lights"):
        Home(load_home("demo"), grammar=[write(tmp_path, "intents: {lights: {en: [x]}}\n", "bad.yaml")])
