"""The conventions other smart-home tools speak, derived from the device models (never written
per device).

``homeassistant``: Home Assistant's MQTT discovery (docs/home-assistant.md); ``zigbee2mqtt``:
Zigbee2MQTT's topics, exposes and bridge requests (``hyperhome up --zigbee2mqtt``); ``miot``: the
Mi Home (MIoT) tables for docs (the ids themselves live with the devices, in ``devices/miot.py``,
since every device's ``$meta`` carries them); ``docs``: docs/conventions.md. A layer beside the
orchestrator: it reads the device models (``devices``) and speaks through ``broker``; the home
(``home/runtime.py``) wires it in.
"""
