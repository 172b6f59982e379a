"""Parts of a device kind that are their own thing, shared where two kinds use them.

Beside ``physics/`` (models of the world in closed form), each a unit of plain data and pure
rules that a kind holds (as shadow state where it keeps any) and drives from its commands and
timers: ``battery`` (a phone's level and low-battery alarm), ``geofence`` (where a phone is and
its trips home), ``hotspot`` (a phone's hotspot, its password and the data counted on its modem),
``wifi`` (the SSID and passphrase both ends of a hotspot accept), ``uplink`` (a calling device's
Wi-Fi, joined hotspot and the rule that picks its uplink), ``video`` (what a video call knows of
the stream it shows), ``traffic`` (the data a device's apps move, as a burst and a rate),
``labels`` (the one pattern of a label a person gives), ``navigation`` (a car's trip and ETA),
``cabin`` (a car's seat zones and climate), ``display`` (a cabin display), ``notifications``,
``voice`` (what a device is told to say).
"""
