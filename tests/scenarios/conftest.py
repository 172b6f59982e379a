"""The ``scenario_runner`` fixture users get from ``hyperhome.scenarios.testing``.

(``pytest_plugins`` may only be set in the top-level conftest; importing the fixture works anywhere.)
"""

from hyperhome.scenarios.testing import scenario_runner

__all__ = ["scenario_runner"]
