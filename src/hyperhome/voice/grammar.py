"""The intent grammar: wake words, slot words and patterns, per language, as data (docs/voice.md).

A grammar is YAML (``default.yaml`` beside this module is the shipped one)::

    wake_words: {zh: [小爱同学], en: [hey assistant]}
    fillers: {zh: [请, 帮我], en: [please]}
    slots:
      room: {living: {zh: [客厅], en: [living room]}}
      device: {air_conditioner: {zh: [空调], en: [ac, air conditioner]}}
    intents:
      climate.set_temperature:
        zh: ["[把]{room}[的]{device}调到{number}度"]
        en: ["set [the] [{room}] {device} to {number} [degrees]"]
    replies: {not_understood: {zh: 抱歉我没听懂, en: "Sorry, I didn't understand that."}}

``Grammar.parse(text)`` normalizes the text, takes out the wake word and the fillers, and tries
every pattern in order; the first that matches the whole request gives the intent and the slots
(slot words mapped to their canonical values, numbers as numbers). Nothing matches: intent
``None``. Parsing never raises on any text.

Users extend the default with files of the same shape (``Grammar.extend``): wake words, fillers
and slot words are added, patterns of an intent are tried before the default ones, replies
replace the default's. An extension may only add patterns to intents the grammar already has
(the assistant has no action for a new one); it may add slots and slot values.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field
from importlib import resources
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hyperhome.voice import numerals

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")
NUMBER = "number"
"""The one built-in slot: a number in digits or words."""

Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.]{0,63}$")]
Phrase = Annotated[str, Field(min_length=1, max_length=200)]
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RE = re.compile(f"[{_CJK}]")
_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)\}")


# -- normalization ------------------------------------------------------------------------------
def normalize(text: str) -> str:
    """What is matched: NFKC (full-width to half-width), lower case, punctuation as spaces (a
    decimal point stays), single spaces, and no space next to a Chinese character."""
    t = unicodedata.normalize("NFKC", text).lower()
    t = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", t)
    t = re.sub(r"[^\w\s.]|_", " ", t)
    t = re.sub(r"\s+", " ", t).strip()
    return re.sub(f"\\s+(?=[{_CJK}])|(?<=[{_CJK}])\\s+", "", t)


def guess_lang(text: str) -> Lang:
    """``zh`` when the text has a Chinese character, else ``en`` (for replies to what no pattern matched)."""
    return "zh" if _CJK_RE.search(text) else "en"


def _words_regex(words: list[str]) -> str:
    """An alternation of normalized phrases, longest first, spaces matching any spacing."""
    phrases = sorted({normalize(w) for w in words if normalize(w)}, key=lambda p: (-len(p), p))
    return "|".join(r"\s*".join(re.escape(part) for part in p.split(" ")) for p in phrases)


# -- the file -------------------------------------------------------------------------------------
class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Words(_Model):
    """Phrases per language."""

    zh: list[Phrase] = Field(default_factory=list)
    en: list[Phrase] = Field(default_factory=list)

    def of(self, lang: Lang) -> list[str]:
        return self.zh if lang == "zh" else self.en


class SlotValue(Words):
    """The words for one canonical value; ``say`` is how replies name it (default: its first word)."""

    say: dict[Lang, Phrase] = Field(default_factory=dict)

    def name(self, lang: Lang, fallback: str) -> str:
        words = self.of(lang)
        return self.say.get(lang) or (words[0] if words else fallback)


class Patterns(Words):
    """An intent's patterns per language; each is checked for syntax when the file is read."""

    @field_validator("zh", "en")
    @classmethod
    def _syntax(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            _Pattern.tokens(pattern)
        return patterns


class GrammarFile(_Model):
    """One grammar file: the default or a user's extension (see the module docstring)."""

    wake_words: Words = Words()
    fillers: Words = Words()
    slots: dict[Name, dict[Name, SlotValue]] = Field(default_factory=dict)
    intents: dict[Name, Patterns] = Field(default_factory=dict)
    replies: dict[Name, dict[Lang, Phrase]] = Field(default_factory=dict)

    @field_validator("slots")
    @classmethod
    def _no_number_slot(cls, slots: dict[str, Any]) -> dict[str, Any]:
        if NUMBER in slots:
            msg = "'number' is built in: it cannot be given words"
            raise ValueError(msg)
        return slots


# -- patterns -------------------------------------------------------------------------------------
class _Pattern:
    """One pattern compiled to a regular expression over normalized text."""

    @staticmethod
    def tokens(pattern: str) -> list[str]:
        """Split into ``{slot}``, ``[``, ``]``, ``(``, ``|``, ``)`` and literal text; ValueError on bad syntax."""
        parts = [p for p in re.split(r"(\{[^{}]*\}|[\[\]()|])", pattern) if p]
        depth: list[str] = []
        seen: set[str] = set()
        for part in parts:
            if part.startswith("{"):
                match = _PLACEHOLDER.fullmatch(part)
                if match is None:
                    msg = f"{pattern!r}: {part} is not a slot name (lower-case letters, digits, '_')"
                    raise ValueError(msg)
                if match[1] in seen:
                    msg = f"{pattern!r}: slot {part} appears twice"
                    raise ValueError(msg)
                seen.add(match[1])
            elif part in "[(":
                depth.append(part)
            elif part in "])":
                if not depth or depth.pop() != {"]": "[", ")": "("}[part]:
                    msg = f"{pattern!r}: unbalanced {part!r}"
                    raise ValueError(msg)
            elif part == "|" and (not depth or depth[-1] != "("):
                msg = f"{pattern!r}: '|' only inside ( )"
                raise ValueError(msg)
            elif "{" in part or "}" in part:
                msg = f"{pattern!r}: unbalanced brace"
                raise ValueError(msg)
        if depth:
            msg = f"{pattern!r}: unclosed {depth[-1]!r}"
            raise ValueError(msg)
        if not normalize(re.sub(r"\{[^{}]*\}|[\[\]()|]", " ", pattern)) and not seen:
            msg = f"{pattern!r} matches nothing"
            raise ValueError(msg)
        return parts

    def __init__(self, pattern: str, lang: Lang, slot_res: dict[str, str]) -> None:
        self.source = pattern
        self.lang = lang
        pieces: list[str] = []
        self.slots: list[str] = []
        for part in self.tokens(pattern):
            if part.startswith("{"):
                name = part[1:-1]
                if name not in slot_res:
                    msg = f"{pattern!r}: unknown slot {part} (slots: {', '.join(sorted(slot_res))})"
                    raise ValueError(msg)
                self.slots.append(name)
                pieces.append(rf"\s*(?P<{name}>{slot_res[name]})")
            elif part in "[(":
                pieces.append("(?:")
            elif part == "]":
                pieces.append(")?")
            elif part in ")|":
                pieces.append(part)
            else:
                text = normalize(part)
                if text:
                    pieces.append(r"\s*" + r"\s*".join(re.escape(w) for w in text.split(" ")))
        self.regex = re.compile(r"\s*" + "".join(pieces) + r"\s*")

    def match(self, text: str) -> dict[str, str] | None:
        found = self.regex.fullmatch(text)
        if found is None:
            return None
        return {name: value for name, value in found.groupdict().items() if value is not None}


# -- parsing --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Parse:
    """What an utterance means.

    ``wake_word``: the wake word it started with (as the grammar lists it), or None.
    ``request``: the normalized text after the wake word. ``lang``: the language of the pattern
    that matched, else of the wake word, else a guess from the characters. ``intent`` is None
    when nothing matched; ``slots`` maps slot names to canonical values (numbers as numbers).
    """

    text: str
    wake_word: str | None
    lang: Lang
    request: str
    intent: str | None = None
    slots: dict[str, Any] = field(default_factory=dict)

    @property
    def understood(self) -> bool:
        return self.intent is not None


@dataclass(frozen=True)
class _Intent:
    name: str
    patterns: list[_Pattern]


class Grammar:
    """A compiled grammar; see the module docstring."""

    def __init__(self, source: GrammarFile) -> None:
        self.source = source
        self._slot_values: dict[str, dict[Lang, list[tuple[str, str]]]] = {}
        slot_res: dict[Lang, dict[str, str]] = {lang: {} for lang in LANGS}
        for slot, values in source.slots.items():
            for lang in LANGS:
                pairs = [(normalize(w), value) for value, spec in values.items() for w in spec.of(lang)]
                self._slot_values.setdefault(slot, {})[lang] = pairs
                slot_res[lang][slot] = _words_regex([w for w, _ in pairs]) or r"(?!)"
        slot_res["zh"][NUMBER] = numerals.ZH_NUMBER
        slot_res["en"][NUMBER] = numerals.EN_NUMBER
        self.intents = [
            _Intent(name, [_Pattern(p, lang, slot_res[lang]) for lang in LANGS for p in patterns.of(lang)])
            for name, patterns in source.intents.items()
        ]
        self._wake = sorted(
            ((normalize(w), w, lang) for lang in LANGS for w in source.wake_words.of(lang)), key=lambda t: -len(t[0])
        )
        fillers_zh = _words_regex(source.fillers.zh)
        fillers_en = _words_regex(source.fillers.en)
        self._fillers_zh = re.compile(fillers_zh) if fillers_zh else None
        self._fillers_en = re.compile(rf"\b(?:{fillers_en})\b") if fillers_en else None

    # -- building --------------------------------------------------------------------------------
    @classmethod
    def default(cls) -> Grammar:
        """The shipped grammar (``default.yaml``), compiled once per process (it never changes)."""
        return _default_grammar()

    def extend(self, *files: GrammarFile) -> Grammar:
        """This grammar with ``files`` merged over it (later files over earlier); ValueError naming
        the intent or slot when an extension does not fit."""
        merged = self.source
        for extra in files:
            merged = merge(merged, extra)
        return Grammar(merged)

    @property
    def wake_words(self) -> list[str]:
        return [w for _, w, _ in self._wake]

    # -- reading ---------------------------------------------------------------------------------
    def wake(self, text: str) -> tuple[str, Lang, str] | None:
        """``(wake word, its language, the rest)`` when normalized ``text`` starts with a wake word."""
        norm = normalize(text)
        for phrase, word, lang in self._wake:
            if norm == phrase or (norm.startswith(phrase) and _boundary(norm, len(phrase))):
                return word, lang, norm[len(phrase) :].strip()
        return None

    def parse(self, text: str) -> Parse:
        """The meaning of ``text``; see ``Parse``. Never raises on any text."""
        woken = self.wake(text)
        wake_word, wake_lang, request = woken if woken else (None, None, normalize(text))
        prepared = {"zh": self._strip(request, "zh"), "en": self._strip(request, "en")}
        if prepared["en"]:
            try:
                prepared["en"] = normalize(numerals.english_digits(prepared["en"]))
            except Exception:  # a library failing on odd text means: no number words in it
                pass
        for intent in self.intents:
            for pattern in intent.patterns:
                found = pattern.match(prepared[pattern.lang])
                if found is None:
                    continue
                slots = self._canonical(found, pattern.lang)
                if slots is not None:
                    return Parse(text, wake_word, pattern.lang, request, intent.name, slots)
        return Parse(text, wake_word, wake_lang or guess_lang(request or text), request)

    def _strip(self, request: str, lang: Lang) -> str:
        fillers = self._fillers_zh if lang == "zh" else self._fillers_en
        return normalize(fillers.sub(" ", request)) if fillers else request

    def _canonical(self, found: dict[str, str], lang: Lang) -> dict[str, Any] | None:
        slots: dict[str, Any] = {}
        for name, said in found.items():
            if name == NUMBER:
                try:
                    slots[name] = numerals.number(said)
                except ValueError:
                    return None
                continue
            said_norm = re.sub(r"\s+", " ", said).strip()
            compact = said_norm.replace(" ", "")
            for word, value in self._slot_values[name][lang]:
                if word == said_norm or word.replace(" ", "") == compact:
                    slots[name] = value
                    break
        return slots

    # -- speaking --------------------------------------------------------------------------------
    def name(self, slot: str, value: str, lang: Lang) -> str:
        """How replies name a slot value (``living`` -> 客厅 / living room)."""
        spec = self.source.slots.get(slot, {}).get(value)
        return spec.name(lang, value) if spec else value.replace("_", " ")

    def reply(self, key: str, lang: Lang, **values: Any) -> str:
        """The reply text ``key`` in ``lang`` with ``{placeholders}`` filled (missing ones left as is)."""
        texts = self.source.replies.get(key, {})
        template = texts.get(lang) or texts.get("en") or key
        shown = {k: numerals.spoken(v) if isinstance(v, float | int) and not isinstance(v, bool) else v
                 for k, v in values.items()}  # fmt: skip
        return _PLACEHOLDER.sub(lambda m: str(shown.get(m[1], m[0])), template)


def _boundary(text: str, at: int) -> bool:
    """A wake word ends at a word boundary (or before Chinese text, which has no spaces)."""
    return at >= len(text) or text[at] == " " or bool(_CJK_RE.match(text[at])) or bool(_CJK_RE.match(text[at - 1]))


Loc = tuple[str | int, ...]


def extension_problems(base: GrammarFile, extra: GrammarFile) -> list[tuple[Loc, str]]:
    """Where ``extra`` does not fit over ``base``: an intent ``base`` lacks, a pattern's unknown slot."""
    problems: list[tuple[Loc, str]] = []
    slots = {*base.slots, *extra.slots, NUMBER}
    for name, patterns in extra.intents.items():
        if name not in base.intents:
            known = ", ".join(base.intents)
            problems.append((("intents", name), f"no intent {name!r} to extend (known: {known})"))
            continue
        for lang in LANGS:
            for index, pattern in enumerate(patterns.of(lang)):
                for slot in _PLACEHOLDER.findall(pattern):
                    if slot not in slots:
                        where: Loc = ("intents", name, lang, index)
                        problems.append((where, f"unknown slot {{{slot}}} (slots: {', '.join(sorted(slots))})"))
    return problems


def merge(base: GrammarFile, extra: GrammarFile) -> GrammarFile:
    """``extra`` over ``base`` (see the module docstring); ValueError when it does not fit."""
    problems = extension_problems(base, extra)
    if problems:
        raise ValueError("; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in problems))

    def words(a: Words, b: Words) -> dict[str, list[str]]:
        return {lang: [*b.of(lang), *(w for w in a.of(lang) if w not in b.of(lang))] for lang in LANGS}

    slots: dict[str, dict[str, SlotValue]] = {name: dict(values) for name, values in base.slots.items()}
    for name, values in extra.slots.items():
        for value, spec in values.items():
            old = slots.setdefault(name, {}).get(value)
            slots[name][value] = spec if old is None else SlotValue(**words(old, spec), say={**old.say, **spec.say})
    intents = {
        name: Patterns(**words(patterns, extra.intents[name])) if name in extra.intents else patterns
        for name, patterns in base.intents.items()
    }
    replies = {key: {**base.replies.get(key, {}), **extra.replies.get(key, {})}
               for key in [*base.replies, *extra.replies]}  # fmt: skip
    return GrammarFile(
        wake_words=Words(**words(base.wake_words, extra.wake_words)),
        fillers=Words(**words(base.fillers, extra.fillers)),
        slots=slots,
        intents=intents,
        replies=replies,
    )


@functools.cache
def _default_grammar() -> Grammar:
    return Grammar(default_file())


@functools.cache
def default_file() -> GrammarFile:
    """The shipped grammar file, validated."""
    text = (resources.files("hyperhome.voice") / "default.yaml").read_text(encoding="utf-8")
    try:
        return GrammarFile.model_validate(yaml.safe_load(text))
    except ValidationError as exc:  # a broken shipped file is a bug: say where
        msg = f"hyperhome/voice/default.yaml: {exc}"
        raise RuntimeError(msg) from None
