"""The private parts of aiomqtt, paho-mqtt and amqtt that HyperHome's adapters override or read.

broker/client.py (``_PromptClient``) and broker/embedded.py (``_Broker``) work around upstream
bugs through private methods (docs/upstream.md has each bug, ready to report). The libraries are
pinned exactly in pyproject.toml; this test fails, naming the method, on the day a release
changes one of them, so a version bump is a decision, not a surprise.
"""

from __future__ import annotations

import asyncio
import inspect
from importlib.metadata import version

import aiomqtt
import paho.mqtt.client as paho
import pytest
from amqtt.broker import Broker

PINNED = {"aiomqtt": "2.5.1", "paho-mqtt": "2.2.0", "amqtt": "0.12.1"}

AIOMQTT = {  # method: its parameters, as _PromptClient overrides or calls it
    "__aenter__": ["self"],
    "_wait_for": ["self", "fut", "timeout"],
    "_client_connect": ["self"],
    "_on_disconnect": ["self", "client", "userdata", "flags", "reason_code", "properties"],
    "_on_socket_register_write": ["self", "client", "userdata", "sock"],
    "_on_socket_unregister_write": ["self", "client", "userdata", "sock"],
    "_on_socket_close": ["self", "client", "userdata", "sock"],
    "_on_subscribe": ["self", "client", "userdata", "mid", "reason_codes", "properties"],
    "_on_unsubscribe": ["self", "client", "userdata", "mid", "reason_codes", "properties"],
    "_on_message": ["self", "client", "userdata", "message"],
    "_misc_loop": ["self"],
}
AIOMQTT_FIELDS = (
    "_client", "_loop", "_lock", "_connected", "_disconnected", "_misc_task",
    "_pending_subscribes", "_pending_unsubscribes", "_pending_publishes", "_socket_options",
)  # fmt: skip
PAHO = {"_reset_sockets": ["self", "sockpair_only"]}
AMQTT = {
    "_initialize_client_session": ["self", "reader", "writer", "remote_address", "remote_port"],
    "_handle_client_session": ["self", "reader", "writer", "client_session", "handler", "server", "listener_name"],
    "_topic_filtering": ["self", "session", "topic", "action"],
    "_publish_retained_messages_for_subscription": ["self", "subscription", "session"],
    "stream_connected": ["self", "reader", "writer", "listener_name"],
}


@pytest.mark.parametrize(("package", "pinned"), sorted(PINNED.items()))
def test_the_library_is_the_pinned_release(package: str, pinned: str) -> None:
    assert version(package) == pinned, f"{package} changed: re-check docs/upstream.md and this file before a bump"


@pytest.mark.parametrize(
    ("owner", "method", "parameters"),
    [(aiomqtt.Client, m, p) for m, p in AIOMQTT.items()]
    + [(paho.Client, m, p) for m, p in PAHO.items()]
    + [(Broker, m, p) for m, p in AMQTT.items()],
)
def test_an_overridden_private_method_keeps_its_signature(owner: type, method: str, parameters: list[str]) -> None:
    found = getattr(owner, method, None)
    assert found is not None, f"{owner.__module__}.{owner.__name__}.{method} is gone"
    assert list(inspect.signature(found).parameters) == parameters, f"{owner.__name__}.{method} changed"


async def test_the_private_fields_the_client_reads_exist() -> None:
    client = aiomqtt.Client("127.0.0.1", 1)
    missing = [name for name in AIOMQTT_FIELDS if not hasattr(client, name)]
    assert not missing, f"aiomqtt.Client lost {missing}"
    assert isinstance(client._connected, asyncio.Future)
    assert isinstance(client._disconnected, asyncio.Future)


async def test_a_puback_sets_what_waits_in_the_pending_publishes_table() -> None:
    """``publish_nowait(acked=...)`` puts its own ``_Ack`` in aiomqtt's table of publishes waiting
    for their PUBACK: aiomqtt's ``_on_publish`` must pop it by mid and call its ``set``."""
    client = aiomqtt.Client("127.0.0.1", 1)
    calls: list[str] = []

    class Waiting:
        def set(self) -> None:
            calls.append("set")

    client._pending_publishes[7] = Waiting()  # type: ignore[assignment]
    client._on_publish(client._client, None, 7, None, None)  # type: ignore[arg-type]
    assert calls == ["set"]
    assert 7 not in client._pending_publishes
