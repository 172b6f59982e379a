"""One row of the reliability table: what a section tried on one broker and what came of it.

Every section (the ACL matrix, the bad logins, the fuzz run, and the ones wired later: client-id
takeover, broker restart mid-flow, link faults) returns ``Row``s with the same six figures, so
one table and one JSON shape hold them all. A figure that does not apply to a section is
``None`` (shown as ``-``): a forged publish cannot be "duplicated", a login has no "recovery".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Row:
    """``attempts`` made, ``refused`` as they should be, ``leaked`` through (the failures), and
    where it applies ``lost``, ``duplicated`` and ``recovery_s``; ``details`` for the JSON."""

    key: str
    """Its key in the JSON (``acl_publish``, ``fuzz``, ...)."""
    section: str
    """What the table calls it."""
    attempts: int
    refused: int
    leaked: int
    lost: int | None = None
    duplicated: int | None = None
    recovery_s: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "attempts": self.attempts,
            "refused": self.refused,
            "leaked": self.leaked,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "recovery_s": self.recovery_s,
            **self.details,
        }
