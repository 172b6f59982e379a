"""No secret reaches a browser: which keys are secrets is read from each device's own ``$meta``.

A command's args field that is a secret (a hotspot password, a door PIN) is ``writeOnly`` in
its JSON Schema (devices mark it with ``SECRET`` or ``SecretStr``; docs/protocol.md, "Secrets").
Commands never reach a browser at all (events.py forwards no ``cmd`` topic). A reply does, on
the WebSocket and as the answer to ``POST .../commands/...``, without any key of its ``result``
named like a secret arg of its command: the one way the contract lets a device send a secret
back (the phone's self-generated hotspot ``password``). A device reply the API cannot check (no
``$meta`` seen, a command ``$meta`` does not describe) loses its whole ``result``. The
orchestrator publishes no ``$meta``; its replies carry no secret (docs/protocol.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hyperhome.broker.topics import ORCHESTRATOR

if TYPE_CHECKING:
    from hyperhome.orchestrator.registry import Registry


class Redactor:
    """Replies as a browser may see them, by the secrets the registry's ``$meta`` declare."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def result(self, device: str, command: str, result: dict[str, Any] | None) -> dict[str, Any] | None:
        """``result`` of ``device``'s reply to ``command`` without its secrets (None if it cannot be checked)."""
        if result is None or device == ORCHESTRATOR:
            return result
        view = self.registry.get(device)
        secrets = view.meta.secret_keys(command) if view is not None and view.meta is not None else None
        if secrets is None:
            return None
        return _without(result, secrets) if secrets else result

    def reply(self, device: str, data: Any) -> Any:
        """A reply payload (decoded JSON) as a browser may see it."""
        if not isinstance(data, dict) or not isinstance(data.get("result"), dict):
            return data
        command = data.get("command")
        result = self.result(device, command if isinstance(command, str) else "", data["result"])
        if result is None:
            return {key: value for key, value in data.items() if key != "result"}
        return {**data, "result": result}


def _without(value: Any, secrets: frozenset[str]) -> Any:
    """``value`` with every object key in ``secrets`` dropped, at any depth."""
    if isinstance(value, dict):
        return {key: _without(item, secrets) for key, item in value.items() if key not in secrets}
    if isinstance(value, list):
        return [_without(item, secrets) for item in value]
    return value
