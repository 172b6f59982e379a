from __future__ import annotations

import pytest

from hyperhome.broker.topics import Topics, check_id
from hyperhome.broker.wire import Reply, decode_command
from hyperhome.errors import ConfigError


def test_command_with_id_and_args() -> None:
    cmd = decode_command(b'{"id": "c-1", "args": {"target_c": 24}}')
    assert cmd.id == "c-1"
    assert cmd.args == {"target_c": 24}


def test_bare_object_is_taken_as_args() -> None:
    cmd = decode_command(b'{"target_c": 24}')
    assert cmd.id is None
    assert cmd.args == {"target_c": 24}


def test_empty_payload_means_no_args() -> None:
    assert decode_command(b"").args == {}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"id": "x", "args": [1]}', "'args' must be a JSON object"),
        (b'{"id": "x", "args": {}, "extra": 1}', "unexpected keys"),
        (b'{"id": {"a": 1}}', "'id' must be a string"),
        (b"\xff\xfe", "not JSON"),
        (b'{"id": "' + b"x" * 200 + b'"}', "longer than 128"),
    ],
)
def test_bad_commands_are_refused_with_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        decode_command(payload)


def test_reply_payload_keeps_null_id_and_drops_empty_fields() -> None:
    payload = Reply(id=None, command="set", ok=True, result={}, ts="t").to_payload()
    assert payload == b'{"id":null,"command":"set","ok":true,"result":{},"ts":"t"}'


def test_topics_build_and_parse() -> None:
    t = Topics("demo")
    assert t.cmd("living-ac", "set") == "hyperhome/demo/living-ac/cmd/set"
    ref = t.parse("hyperhome/demo/living-ac/cmd/stream.start")
    assert ref is not None
    assert (ref.device, ref.kind, ref.name) == ("living-ac", "cmd", "stream.start")
    assert t.parse("hyperhome/other/x/state") is None
    assert t.parse("hyperhome/demo/x/unknown") is None


@pytest.mark.parametrize("bad", ["", "Upper", "-lead", "a" * 65, "has space", "has.dot", "$x"])
def test_bad_ids(bad: str) -> None:
    with pytest.raises(ConfigError):
        check_id(bad)
