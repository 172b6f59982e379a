"""Run scenarios from pytest.

```python
# test_my_home.py
from hyperhome.scenarios.testing import run_scenario

async def test_cooldown() -> None:
    result = await run_scenario("living_room_cooldown", broker="embedded")
    result.raise_for_failure()          # or: assert result.passed, result.failure
```

Or load the fixture in ``conftest.py`` with ``pytest_plugins = ["hyperhome.scenarios.testing"]``
and take ``scenario_runner``: it runs a scenario, skips the test when the scenario is skipped
(a flow it needs is not there yet) and fails it with the step, expected and seen when it fails.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from hyperhome.scenarios.runner import ScenarioResult, run_scenario_file
from hyperhome.scenarios.scenario import load_scenario


async def run_scenario(
    path_or_name: str | Path,
    *,
    broker: str = "embedded",
    speed: float | None = None,
    update_golden: bool = False,
) -> ScenarioResult:
    """Validate and run a scenario (a path or a shipped name); virtual time unless ``speed``."""
    scenario, path = load_scenario(path_or_name)
    return await run_scenario_file(scenario, path, broker=broker, speed=speed, update_golden=update_golden)


ScenarioRunner = Callable[..., Awaitable[ScenarioResult]]


@pytest.fixture
def scenario_runner() -> ScenarioRunner:
    """``await scenario_runner(name_or_path, broker=...)``: passed result, or skip, or fail."""

    async def run(path_or_name: str | Path, **options: Any) -> ScenarioResult:
        result = await run_scenario(path_or_name, **options)
        if result.status == "skipped":
            pytest.skip(result.failure)
        if not result.passed:
            pytest.fail(result.failure, pytrace=False)
        return result

    return run
