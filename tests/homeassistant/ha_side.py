# mypy: disable-error-code="import-not-found"
"""Run inside Home Assistant's own venv (Python 3.11, homeassistant==2024.3.3), never imported
by the tests' interpreter.

``python ha_side.py token CONFIG_DIR``: make an admin user and a long-lived access token in the
config's ``.storage/auth`` (as ``hass --script auth`` does, through Home Assistant's own auth
manager), mark onboarding done, and print the token.

``python ha_side.py validate < configs.json``: validate each ``[component, payload]`` with
``homeassistant.components.mqtt.<component>.DISCOVERY_SCHEMA`` and print, as JSON, every
problem: a payload the schema rejects, or a key it drops (the schemas remove keys they do not
know, so a key Home Assistant would ignore is a problem too).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any


async def _token(config_dir: str) -> tuple[str, str]:
    from homeassistant.auth import auth_manager_from_config
    from homeassistant.auth.const import GROUP_ID_ADMIN
    from homeassistant.auth.models import TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers import device_registry as dr
    from homeassistant.helpers import entity_registry as er

    from homeassistant import runner

    del runner
    hass = HomeAssistant(config_dir)
    await asyncio.gather(dr.async_load(hass), er.async_load(hass))
    hass.auth = await auth_manager_from_config(hass, [{"type": "homeassistant"}], [])
    user = await hass.auth.async_create_user("hyperhome-test", group_ids=[GROUP_ID_ADMIN])
    refresh = await hass.auth.async_create_refresh_token(
        user,
        client_name="hyperhome-test",
        token_type=TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN,
        access_token_expiration=timedelta(days=1),
    )
    token = hass.auth.async_create_access_token(refresh)
    await hass.auth._store._store.async_save(hass.auth._store._data_to_save())
    await hass.async_stop(force=True)
    onboarding = {"version": 4, "minor_version": 1, "key": "onboarding"}
    onboarding["data"] = {"done": ["user", "core_config", "analytics", "integration"]}
    return token, json.dumps(onboarding)


def _validate(items: list[list[Any]]) -> list[str]:
    import voluptuous as vol
    from homeassistant.components.mqtt.abbreviations import ABBREVIATIONS  # noqa: F401 (loads the package)

    problems = []
    for component, payload in items:
        module = importlib.import_module(f"homeassistant.components.mqtt.{component}")
        given = dict(payload)
        try:
            checked = module.DISCOVERY_SCHEMA({**given, "platform": "mqtt"})
        except vol.Invalid as exc:
            problems.append(f"{component} {payload.get('unique_id')}: rejected: {exc}")
            continue
        dropped = sorted(set(given) - set(checked))
        if dropped:
            problems.append(f"{component} {payload.get('unique_id')}: keys Home Assistant ignores: {dropped}")
    return problems


def main() -> None:
    if sys.argv[1] == "token":
        token, onboarding = asyncio.run(_token(sys.argv[2]))
        Path(sys.argv[2], ".storage", "onboarding").write_text(onboarding)
        sys.stdout.write(token + "\n")
    elif sys.argv[1] == "validate":
        sys.stdout.write(json.dumps(_validate(json.load(sys.stdin))) + "\n")


if __name__ == "__main__":
    main()
