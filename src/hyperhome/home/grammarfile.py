"""Voice settings of a home file and the users' grammar files (docs/voice.md).

```yaml
voice:
  grammar: [my-words.yaml]   # merged over the shipped grammar, relative to the home file
  window_ms: 300             # wake arbitration window
```

A grammar file's mistakes are reported with its own name and line, like the home file's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from hyperhome.errors import ConfigError
from hyperhome.home import yamlfile
from hyperhome.voice.grammar import Grammar, GrammarFile, default_file, extension_problems

WINDOW_MS = 300
"""The wake arbitration window of issue 5: utterances of one wake word within 300 ms are one wake-up."""


class VoiceSettings(BaseModel):
    """The home's voice assistant."""

    model_config = ConfigDict(extra="forbid")

    grammar: list[str] = Field(default_factory=list)
    """Grammar files merged over the shipped one, in order (paths relative to the home file)."""
    window_ms: float = Field(WINDOW_MS, gt=0, le=10_000)
    """Utterances of one wake word within this many simulated ms of the first are one wake-up."""

    def resolved(self, base: Path) -> VoiceSettings:
        """These settings with grammar paths made absolute against ``base`` (the home file's folder)."""
        return self.model_copy(update={"grammar": [str((base / p).resolve()) for p in self.grammar]})


def read_grammar_file(path: Path, base: GrammarFile) -> GrammarFile:
    """One user grammar file, validated and checked against ``base``; ConfigError with file:line."""
    data, lines = yamlfile.load(path)
    extra = yamlfile.validate_data(GrammarFile, data if data is not None else {}, lines, str(path))
    problems = extension_problems(base, extra)
    if problems:
        raise yamlfile.Source(str(path), lines).problems(problems)
    return extra


def load_grammar(paths: Sequence[str | Path], base: Path | None = None) -> Grammar:
    """The shipped grammar extended with ``paths`` (relative ones against ``base``, default the
    working directory); ConfigError naming the file and line of the first file that does not fit."""
    grammar = Grammar.default()
    source = default_file()
    for name in paths:
        path = (base or Path.cwd()) / name
        extra = read_grammar_file(path, source)
        try:
            grammar = grammar.extend(extra)
        except ValueError as exc:
            msg = f"{path}: {exc}"
            raise ConfigError(msg) from None
        source = grammar.source
    return grammar


def checked(settings: VoiceSettings, base: Path, source: yamlfile.Source) -> VoiceSettings:
    """``settings`` with paths resolved against ``base`` (the folder of ``source``, the file that
    holds the home), every grammar file read once so that a mistake is reported when the home is
    loaded, before anything starts; a file that is not there at the line that names it."""
    resolved = settings.resolved(base)
    for index, path in enumerate(resolved.grammar):
        if not Path(path).is_file():
            raise source.error(("voice", "grammar", index), f"no grammar file {path}")
    load_grammar(resolved.grammar)
    return resolved
