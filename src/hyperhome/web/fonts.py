"""The dashboard's Chinese font: a subset of WenQuanYi Micro Hei with every CJK character that
HyperHome itself says or hears (voice grammar, spoken replies, homes, scenarios), so the page is
readable on a machine with no CJK font at all. Text from elsewhere (a sentence a user types)
falls back to the system's fonts: install ``fonts-noto-cjk`` for those (docs/web.md).

``python -m hyperhome.web.fonts [SOURCE_FONT]`` writes ``static/hyperhome-cjk.woff``
again (Debian: ``apt-get install fonts-wqy-microhei``, the default source); a test fails when a
shipped file holds a CJK character the subset lacks.
"""

from __future__ import annotations

import re
import sys
from importlib import resources
from pathlib import Path

FONT_NAME = "hyperhome-cjk.woff"
SOURCE = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
"""CJK punctuation, the unified ideographs and full-width forms: the ``unicode-range`` in style.css."""
_SHIPPED_TEXT = ("*.yaml", "*.py", "*.json", "*.js", "*.html")


def shipped_cjk() -> str:
    """Every CJK character in HyperHome's own files, sorted."""
    package = Path(str(resources.files("hyperhome")))
    found: set[str] = set()
    for pattern in _SHIPPED_TEXT:
        for path in package.rglob(pattern):
            found.update(CJK.findall(path.read_text(encoding="utf-8", errors="ignore")))
    return "".join(sorted(found))


def font_path() -> Path:
    return Path(str(resources.files("hyperhome.web") / "static" / FONT_NAME))


def write_subset(source: Path = SOURCE, target: Path | None = None) -> Path:
    """Subset ``source`` to :func:`shipped_cjk` as WOFF (fontTools, from the ``dev`` extra)."""
    from fontTools import subset

    target = target or font_path()
    options = subset.Options()
    options.flavor = "woff"
    options.font_number = 0
    font = subset.load_font(str(source), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=shipped_cjk())
    subsetter.subset(font)
    subset.save_font(font, str(target), options)
    return target


if __name__ == "__main__":
    written = write_subset(Path(sys.argv[1]) if len(sys.argv) > 1 else SOURCE)
    sys.stdout.write(f"{written}: {len(shipped_cjk())} characters, {written.stat().st_size} bytes\n")
