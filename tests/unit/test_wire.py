from __future__ import annotations

import pytest

from hyperhome.broker.topics import Topics, check_id
from hyperhome.broker.wire import MAX_DEPTH, MAX_PAYLOAD_BYTES, PayloadError, Reply, decode_command, loads
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


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "nested deeper than 32 levels"),
        (b'{"a": ' * MAX_DEPTH + b"1" + b"}" * MAX_DEPTH + b"x", "not JSON"),  # 32 deep is fine; 'x' is not
        (b'"' + b"x" * MAX_PAYLOAD_BYTES + b'"', "more than the 262144 a payload may have"),
        (b"NaN", "NaN is not a JSON number"),
        (b"[Infinity]", "Infinity is not a JSON number"),
        (b'{"t": 1e999}', "out of range"),
        (b"1" * 5000, "not JSON HyperHome reads"),  # more digits than Python converts
        ('{"t": "\u00e9"}'.encode("utf-16"), "not JSON"),  # UTF-8 only
    ],
)
def test_every_payload_is_decoded_within_the_limits(payload: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        loads(payload)


def test_the_limits_themselves_are_allowed() -> None:
    assert loads(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is not None
    assert loads(b'{"s": "' + b"[" * 1000 + b'"}') == {"s": "[" * 1000}, "brackets in a string are not nesting"
    assert loads(rb'{"s": "\\\"[[[["}') == {"s": '\\"[[[['}, "an escaped quote does not end a string"
    big = b'"' + b"x" * (MAX_PAYLOAD_BYTES - 2) + b'"'
    assert loads(big) == "x" * (MAX_PAYLOAD_BYTES - 2)


def test_a_refused_command_keeps_its_id_when_its_top_level_shows_one() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    cases = {
        b'{"id": "c-1", "args": {"a": ' + deep + b"}}": "c-1",
        b'{"args": {"a": ' + deep + b'}, "id": 7}': "7",
        b'{"args": {"id": "inner", "a": ' + deep + b"}}": None,  # not the command's own id
        b'{"id": "' + b"x" * 200 + b'", "args": {"a": NaN}}': None,  # not an id
        b'[{"id": "c-1"}, NaN]': None,
        rb'{"id": "c-\"1", "args": NaN}': 'c-"1',
    }
    for payload, command_id in cases.items():
        with pytest.raises(PayloadError) as refused:
            decode_command(payload)
        assert refused.value.command_id == command_id, payload[:40]


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
