"""HyperHome: a smart-home and Human x Car x Home ecosystem emulator over a real MQTT broker."""

__version__ = "0.1.0"
