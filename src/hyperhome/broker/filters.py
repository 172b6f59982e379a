"""MQTT topic-filter algebra: containment, overlap, join, and a non-overlapping cover.

A broker may deliver one copy of a message per matching subscription (MQTT 3.1.1, 3.3.5; amqtt
does), so a client that wants each message once must never hold overlapping filters at the
broker. ``cover`` turns the filters a client's handlers want into such a set: filters inside
another are dropped, overlapping ones are merged into their ``join``.
"""

from __future__ import annotations


def within(inner: str, outer: str) -> bool:
    """True if every topic matched by filter ``inner`` is also matched by ``outer``."""
    req, allow = inner.split("/"), outer.split("/")
    for i, level in enumerate(allow):
        if level == "#":
            return True
        if i >= len(req) or req[i] == "#":
            return False
        if level != "+" and (req[i] == "+" or req[i] != level):
            return False
    return len(req) == len(allow)


def overlap(a: str, b: str) -> bool:
    """True if some topic matches both filters."""
    x, y = a.split("/"), b.split("/")
    for i in range(max(len(x), len(y))):
        p = x[i] if i < len(x) else None
        q = y[i] if i < len(y) else None
        if p == "#" or q == "#":
            return True
        if p is None or q is None:
            return False
        if p != q and "+" not in (p, q):
            return False
    return True


def join(a: str, b: str) -> str:
    """The narrowest filter of this simple form that contains both."""
    x, y = a.split("/"), b.split("/")
    out: list[str] = []
    for i in range(max(len(x), len(y))):
        p = x[i] if i < len(x) else None
        q = y[i] if i < len(y) else None
        if p is None or q is None or "#" in (p, q):
            out.append("#")
            break
        out.append(p if p == q else "+")
    return "/".join(out)


def cover(filters: list[str]) -> list[str]:
    """Filters without overlap whose union matches the same topics (or more, for joins)."""
    result: list[str] = []
    for f in filters:
        merged = f
        changed = True
        while changed:
            changed = False
            for held in list(result):
                if overlap(held, merged):
                    result.remove(held)
                    merged = held if within(merged, held) else merged if within(held, merged) else join(held, merged)
                    changed = True
        result.append(merged)
    return result
