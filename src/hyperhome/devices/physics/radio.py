"""A phone's cellular modem and Wi-Fi hotspot: signal bars, metered data, hotspot credentials.

Signal is the LTE reference signal received power (RSRP) in dBm, or ``None`` for no service.
Data is counted in closed form: a set of constant rates in MB per hour between changes, so the
total after any stretch of simulated time is the same whether it was computed once or every second.

Constants and where they come from:

- ``RSRP_MIN_DBM = -140``, ``RSRP_MAX_DBM = -44``: the range of reportable RSRP,
  3GPP TS 36.133 section 9.1.4 (RSRP measurement report mapping); Android's
  ``SignalStrength`` treats values outside it as invalid.
- ``LTE_BAR_THRESHOLDS_DBM = (-115, -105, -95, -85)``: Android's default LTE signal-bar
  thresholds (``CellSignalStrengthLte``, carrier config ``lte_rsrp_thresholds_int_array``):
  at or above each threshold one more bar, so -120 dBm is 0 bars (NONE), -100 dBm 2 bars
  (MODERATE), -80 dBm 4 bars (GREAT).
- SSIDs are 1 to 32 octets (IEEE 802.11-2020, 9.4.2.2 SSID element; an empty SSID is only the
  wildcard of a probe request). A JSON Schema cannot count UTF-8 octets, and a device accepts
  exactly what its schema says, so HyperHome's rule (``SSID_PATTERN``) is one that a pattern
  states and that never exceeds 32 octets: up to 32 ASCII characters, 16 from U+0000-U+07FF
  (2 octets each: accented Latin, Greek, Cyrillic, ...), 10 from the Basic Multilingual Plane
  (3 octets: CJK, ...) or 8 of any (4 octets).
- WPA2-Personal passphrases are 8 to 63 printable ASCII characters (IEEE 802.11i-2004,
  annex H.4.1).
- ``GENERATED_PASSWORD_LENGTH = 16`` from ``PASSWORD_ALPHABET`` (54 letters and digits without
  the look-alikes 0/O, 1/l/I): log2(54) x 16 = 92 bits, beyond offline guessing of a WPA2
  handshake; HyperHome issue 3 asks for at least 12 characters. Drawn with ``secrets``.
- ``HOTSPOT_MAX_CLIENTS = 10``: a design choice at the top of what phone hotspots allow (vendors'
  support pages give 5 to 10 clients for phones; some let the user lower it).
"""

from __future__ import annotations

import re
import secrets
import string

RSRP_MIN_DBM = -140
RSRP_MAX_DBM = -44
LTE_BAR_THRESHOLDS_DBM = (-115, -105, -95, -85)
SSID_MAX_OCTETS = 32
SSID_PATTERN = r"^(?:[\x00-\x7f]{1,32}|[\x00-\u07ff]{1,16}|[\x00-\uffff]{1,10}|[\s\S]{1,8})$"
PASSPHRASE_MIN_CHARS = 8
PASSPHRASE_MAX_CHARS = 63
PASSPHRASE_PATTERN = r"^[\x20-\x7e]{8,63}$"
GENERATED_PASSWORD_LENGTH = 16
PASSWORD_ALPHABET = "".join(c for c in string.ascii_letters + string.digits if c not in "0O1lI")
HOTSPOT_MAX_CLIENTS = 10


def bars(rsrp_dbm: float | None) -> int:
    """Signal bars (0 to 4) shown for an LTE RSRP; 0 with no service."""
    if rsrp_dbm is None:
        return 0
    return sum(1 for threshold in LTE_BAR_THRESHOLDS_DBM if rsrp_dbm >= threshold)


def generate_password(length: int = GENERATED_PASSWORD_LENGTH) -> str:
    """A random WPA2 passphrase of ``length`` unambiguous letters and digits."""
    if not PASSPHRASE_MIN_CHARS <= length <= PASSPHRASE_MAX_CHARS:
        msg = f"a WPA2 passphrase has {PASSPHRASE_MIN_CHARS} to {PASSPHRASE_MAX_CHARS} characters, not {length}"
        raise ValueError(msg)
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(length))


def ssid_ok(ssid: str) -> bool:
    """Is ``ssid`` a network name a hotspot can broadcast (``SSID_PATTERN``: at most 32 octets of UTF-8)?"""
    return re.fullmatch(SSID_PATTERN, ssid) is not None


def ssid_from_name(name: str) -> str:
    """A device's name cut to what an SSID can hold (``"phone"`` if nothing is left)."""
    ssid = name
    while ssid and not ssid_ok(ssid):
        ssid = ssid[:-1]
    return ssid or "phone"


def data_after(used_mb: float, rate_mb_per_h: float, elapsed_s: float) -> float:
    """Data counted after ``elapsed_s`` seconds at a constant rate."""
    return used_mb + max(rate_mb_per_h, 0.0) * max(elapsed_s, 0.0) / 3600.0
