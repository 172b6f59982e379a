"""Testing other people's code against a HyperHome home: the ``hyperhome`` pytest fixture
(plugin.py, loaded by the ``pytest11`` entry point) and the handle it gives (handle.py)."""

from hyperhome.testing.handle import BrokerUrl, Messages, Recorded, TestHome, TestLogin, start_home

__all__ = ["BrokerUrl", "Messages", "Recorded", "TestHome", "TestLogin", "start_home"]
