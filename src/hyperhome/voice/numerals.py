"""Numbers said in words, as numbers: 二十四 -> 24, 二十五点五 -> 25.5, twenty four -> 24.

The conversions are the libraries' (``cn2an`` for Chinese numerals, ``text2num`` for English
number words); this module only gives them one small, typed face and one error. ``cn2an`` builds
its tables on import (about 0.3 s), so it is imported on the first Chinese numeral, not by every
process that loads a device kind.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, Literal

from text_to_num import alpha2digit  # type: ignore[import-untyped]

Lang = Literal["zh", "en"]

ZH_NUMBER = r"[0-9.零〇一二两三四五六七八九十百千点]+"
"""What a ``{number}`` in a Chinese pattern captures (digits, or a Chinese numeral)."""
EN_NUMBER = r"\d+(?:\.\d+)?"
"""What a ``{number}`` in an English pattern captures: digits (words were turned into digits first)."""
_DIGITS = re.compile(r"^\d+(?:\.\d+)?$")


def english_digits(text: str) -> str:
    """``text`` with English number words written as digits ("set it to twenty four" -> "... 24").

    ``text2num`` leaves the isolated small words one and two alone ("turn on one light"), which is
    what a sentence wants.
    """
    converted: str = alpha2digit(text, "en")
    return converted


def number(text: str) -> int | float:
    """The value of a captured number (digits or a Chinese numeral); ValueError if it is none.

    Whole values come back as ``int`` (24, not 24.0), as a person would say them.
    """
    if _DIGITS.match(text):
        value = float(text)
    else:
        try:
            value = float(_cn2an()(text, "smart"))
        except Exception:  # cn2an raises several kinds on text that is not a numeral
            msg = f"not a number: {text!r}"
            raise ValueError(msg) from None
    return int(value) if value.is_integer() else value


def spoken(value: float) -> str:
    """A number as a reply says it: 24 not 24.0, 25.5 as is."""
    return f"{value:g}"


@functools.cache
def _cn2an() -> Callable[[str, str], Any]:
    import cn2an  # type: ignore[import-untyped]  # deferred on purpose (see the module docstring)

    convert: Callable[[str, str], Any] = cn2an.cn2an
    return convert
