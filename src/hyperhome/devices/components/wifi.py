"""Wi-Fi network names as args and state carry them (the rules are physics/radio.py's).

One ``Ssid`` for the phone's hotspot and the call app's network, so the two sides of a hotspot
accept the same names (they had drifted to two copies with different error messages).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from hyperhome.devices.physics import radio


def _ssid(value: str) -> str:
    if not radio.ssid_ok(value):
        msg = (
            f"an SSID is 1 to {radio.SSID_MAX_OCTETS} octets (UTF-8): up to 32 ASCII characters, "
            "16 up to U+07FF, 10 up to U+FFFF or 8 of any"
        )
        raise ValueError(msg)
    return value


Ssid = Annotated[
    str,
    Field(min_length=1, max_length=radio.SSID_MAX_OCTETS, json_schema_extra={"pattern": radio.SSID_PATTERN}),
    AfterValidator(_ssid),
]
"""A network name: 1 to 32 octets of UTF-8 (IEEE 802.11), as a JSON Schema pattern can state it."""
