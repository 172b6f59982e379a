"""The conventions other smart-home tools speak, derived from the device models.

``zigbee2mqtt``: Zigbee2MQTT's topics, exposes and bridge requests (``hyperhome up
--zigbee2mqtt``); ``miot``: the Mi Home (MIoT) tables for docs (the ids themselves live with the
devices, in ``devices/miot.py``, since every device's ``$meta`` carries them); ``docs``:
docs/conventions.md.
"""
