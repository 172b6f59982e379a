"""The dashboard's Chinese font covers every CJK character HyperHome itself says or hears."""

from __future__ import annotations

from fontTools.ttLib import TTFont

from hyperhome.web.fonts import font_path, shipped_cjk


def test_the_subset_font_has_every_cjk_character_of_the_shipped_files() -> None:
    text = shipped_cjk()
    assert {"好", "空", "调"} <= set(text)  # the speaker's own reply, 好的，客厅空调已调到24度
    cmap = TTFont(str(font_path())).getBestCmap()
    missing = [c for c in text if ord(c) not in cmap]
    assert not missing, (
        f"{''.join(missing)} not in the font: run `python -m hyperhome.web.fonts` "
        "(Debian: apt-get install fonts-wqy-microhei)"
    )
    assert font_path().stat().st_size < 200_000  # a subset, not a whole CJK font
