"""Parts of a device kind that are their own thing, shared where two kinds use them.

Beside ``physics/`` (models of the world in closed form): ``traffic`` (the data a device's apps
move, as a burst and a rate), ``geofence`` (where a phone is and its trips home), ``hotspot``
(a phone's hotspot clients and the data counted on its modem), ``wifi`` (the SSID both ends of a
hotspot accept).
"""
