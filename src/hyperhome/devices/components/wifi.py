"""Wi-Fi network names and passphrases as args and state carry them (the rules are physics/radio.py's).

One ``Ssid`` and one ``Passphrase`` for the phone's hotspot and the call app's network, so the two
sides of a hotspot accept the same names and passwords (they had drifted to two copies each).
Hotspot passwords are WPA2-Personal passphrases: 8 to 63 printable ASCII characters
(IEEE 802.11i-2004, annex H.4); a ``Passphrase`` is a secret (never logged or shown).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from hyperhome.devices.base import SECRET
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

Passphrase = Annotated[str, SECRET, Field(pattern=radio.PASSPHRASE_PATTERN)]
"""A WPA2-Personal passphrase: 8 to 63 printable ASCII characters (a secret)."""
