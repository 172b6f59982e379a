"""Conventions other tools speak, derived from the device models (never written per device).

``homeassistant``: Home Assistant's MQTT discovery (docs/home-assistant.md). A layer beside the
orchestrator: it reads the device models (``devices``) and speaks through ``broker``; the home
(``home/runtime.py``) wires it in.
"""
