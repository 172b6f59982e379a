"""Code blocks of the project's Markdown pages, as the doc tests run them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^```(\w+)?([^\n]*)\n(.*?)^```", re.S | re.M)


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    lang: str
    info: str  # what follows the language on the fence line (``no-run``, ...)
    text: str

    @property
    def save_as(self) -> str | None:
        """The file name a page tells the reader to save this block as (``save-as=fan.py``)."""
        for word in self.info.split():
            if word.startswith("save-as="):
                return word.removeprefix("save-as=")
        return None

    @property
    def up_with(self) -> tuple[str, ...]:
        """Options the ``hyperhome up`` it runs after needs (``up-with=--faults``); () for none."""
        for word in self.info.split():
            if word.startswith("up-with="):
                return tuple(word.removeprefix("up-with=").split(","))
        return ()

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path, *langs: str) -> list[Block]:
    """The fenced blocks of ``page`` in one of ``langs`` (all of them without), in page order."""
    text = page.read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(text):
        lang = match.group(1) or ""
        if not langs or lang in langs:
            line = text.count("\n", 0, match.start()) + 1
            found.append(Block(page, line, lang, match.group(2).strip(), match.group(3)))
    return found
