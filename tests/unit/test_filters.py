from __future__ import annotations

import pytest

from hyperhome.broker.filters import cover, join, overlap, within


@pytest.mark.parametrize(
    ("inner", "outer", "expected"),
    [
        ("h/a/state", "h/+/state", True),
        ("h/+/state", "h/a/state", False),
        ("h/a/#", "h/#", True),
        ("h/#", "h/a/#", False),
        ("h/a", "h/a/#", True),
        ("h/+/reply", "h/+/#", True),
        ("h/a/b", "h/+", False),
    ],
)
def test_within(inner: str, outer: str, expected: bool) -> None:
    assert within(inner, outer) is expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("h/+/reply", "h/ac/#", True),
        ("h/+/state", "h/+/$meta", False),
        ("h/ac/cmd/#", "h/+/stream/#", False),
        ("h/#", "x/#", False),
        ("h/a", "h/a/b", False),
        ("h/+", "h/a", True),
    ],
)
def test_overlap(a: str, b: str, expected: bool) -> None:
    assert overlap(a, b) is expected


def test_join_and_cover_leave_no_overlap() -> None:
    assert join("h/+/reply", "h/ac/#") == "h/+/#"
    assert join("h/a/state", "h/b/state") == "h/+/state"
    filters = ["h/+/$meta", "h/+/state", "h/+/reply", "h/ac/#", "h/$sync/$controller"]
    result = cover(filters)
    assert not any(overlap(a, b) for i, a in enumerate(result) for b in result[i + 1 :])
    for f in filters:
        assert any(within(f, c) for c in result)
    assert cover(["h/a/cmd/#", "h/+/stream/#", "h/+/$meta"]) == ["h/a/cmd/#", "h/+/stream/#", "h/+/$meta"]
    assert cover(["h/#", "h/+/state"]) == ["h/#"]
