"""The smart door lock alone, in virtual time on the in-memory bus."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hyperhome.devices.clock import parse_time
from hyperhome.devices.lock import DRAIN_PCT_PER_ACTUATION, PIN_LOCKOUT_S, Lock
from hyperhome.devices.testing import DeviceHarness
from hyperhome.errors import ConfigError

ALICE_PIN = "918273"
BOB_PIN = "5550123"
WRONG_PIN = "246801"
CONFIG: dict[str, Any] = {"pins": {"alice": ALICE_PIN, "bob": BOB_PIN}, "fingerprints": ["alice-right-index"]}

LockHarness = DeviceHarness[Lock]


def lock_harness(**kwargs: Any) -> LockHarness:
    kwargs.setdefault("config", CONFIG)
    return DeviceHarness(Lock, **kwargs)


def event_trace(lock: LockHarness) -> list[tuple[str, dict[str, Any]]]:
    """Every event the lock published, in order, as (name, fields without ts)."""
    prefix = lock.topics.event(lock.device.id, "")
    trace = []
    for message in lock.messages:
        if message.topic.startswith(prefix):
            fields = {k: v for k, v in message.json().items() if k != "ts"}
            trace.append((message.topic[len(prefix) :], fields))
    return trace


def last_state(lock: LockHarness) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(lock.published("state")[-1].payload)
    return body


async def rejected(lock: LockHarness, command: str, args: dict[str, Any] | None = None) -> str:
    reply = await lock.command(command, args)
    assert reply.error is not None, f"{command} {args} was accepted"
    assert reply.error.code == "rejected", reply.error
    return reply.error.message


async def test_unlock_open_close_auto_lock_in_order_and_on_time() -> None:
    async with lock_harness() as lock:
        await lock.ok("unlock", {"method": "app", "user": "alice"})
        await lock.clock.sleep(4)
        await lock.ok("simulate.door", {"open": True})
        await lock.clock.sleep(6)
        await lock.ok("simulate.door", {"open": False})
        closed_at = lock.clock.now()
        assert last_state(lock)["auto_lock_at"] == lock.clock.iso(closed_at + 30)

        await lock.clock.sleep(29.9)
        assert lock.state.locked is False
        await lock.clock.sleep(60)
        assert lock.state.locked is True
        assert last_state(lock)["locked"] is True
        assert last_state(lock)["auto_lock_at"] is None

        assert event_trace(lock) == [
            ("unlocked", {"by": "app", "who": "alice"}),
            ("door_opened", {}),
            ("door_closed", {"auto_lock_at": lock.clock.iso(closed_at + 30)}),
            ("locked", {"by": "auto"}),
        ]
        (locked,) = lock.events("locked")
        assert parse_time(locked["ts"]) - closed_at == pytest.approx(30.0, abs=0.001)


async def test_auto_lock_delay_comes_from_config() -> None:
    async with lock_harness(config={**CONFIG, "auto_lock_s": 8}, state={"locked": False}) as lock:
        await lock.ok("simulate.door", {"open": True})
        await lock.ok("simulate.door", {"open": False})
        closed_at = lock.clock.now()
        await lock.clock.sleep(20)
        (locked,) = lock.events("locked")
        assert parse_time(locked["ts"]) - closed_at == pytest.approx(8.0, abs=0.001)


async def test_auto_lock_off_leaves_the_door_unlocked() -> None:
    async with lock_harness(config={**CONFIG, "auto_lock_s": None}, state={"locked": False, "door_open": True}) as lock:
        await lock.ok("simulate.door", {"open": False})
        await lock.clock.sleep(3600)
        assert lock.state.locked is False
        assert lock.events("locked") == []


async def test_reopening_the_door_cancels_the_auto_lock_and_the_next_close_restarts_it() -> None:
    async with lock_harness(state={"locked": False, "door_open": True}) as lock:
        await lock.ok("simulate.door", {"open": False})
        await lock.clock.sleep(20)
        await lock.ok("simulate.door", {"open": True})
        assert lock.state.auto_lock_at is None
        await lock.clock.sleep(120)
        assert lock.state.locked is False
        assert lock.events("locked") == []

        await lock.ok("simulate.door", {"open": False})
        second_close = lock.clock.now()
        await lock.clock.sleep(45)
        (locked,) = lock.events("locked")
        assert parse_time(locked["ts"]) - second_close == pytest.approx(30.0, abs=0.001)


async def test_locking_or_unlocking_meanwhile_cancels_the_auto_lock() -> None:
    async with lock_harness(state={"locked": False, "door_open": True}) as lock:
        await lock.ok("simulate.door", {"open": False})
        await lock.clock.sleep(10)
        await lock.ok("lock")
        await lock.clock.sleep(10)
        await lock.ok("unlock", {"method": "app"})
        await lock.clock.sleep(120)
        assert lock.state.locked is False
        assert [e["by"] for e in lock.events("locked")] == ["app"]


async def test_five_wrong_pins_lock_the_keypad_for_five_minutes() -> None:
    async with lock_harness() as lock:
        for attempt in range(1, 5):
            message = await rejected(lock, "unlock", {"method": "pin", "pin": WRONG_PIN})
            assert "wrong PIN" in message
            assert last_state(lock)["wrong_pins"] == attempt
        assert lock.events("pin_lockout") == []

        await rejected(lock, "unlock", {"method": "pin", "pin": WRONG_PIN})
        fifth_at = lock.clock.now()
        until = lock.clock.iso(fifth_at + PIN_LOCKOUT_S)
        (lockout,) = lock.events("pin_lockout")
        assert lockout["until"] == until
        assert [e["reason"] for e in lock.events("tamper")] == ["wrong_pins"]
        assert last_state(lock)["pin_locked_until"] == until
        assert last_state(lock)["wrong_pins"] == 5

        await lock.clock.sleep(60)
        message = await rejected(lock, "unlock", {"method": "pin", "pin": ALICE_PIN})
        assert "locked for another 4 min 00 s" in message
        assert until in message
        await lock.clock.sleep(PIN_LOCKOUT_S - 60 - 1)
        message = await rejected(lock, "unlock", {"method": "pin", "pin": ALICE_PIN})
        assert "another 1 s" in message
        assert lock.state.locked is True
        assert len(lock.events("pin_lockout")) == 1

        await lock.clock.sleep(1)
        assert last_state(lock)["pin_locked_until"] is None
        assert last_state(lock)["wrong_pins"] == 0
        result = await lock.ok("unlock", {"method": "pin", "pin": ALICE_PIN})
        assert result["locked"] is False
        (unlocked,) = lock.events("unlocked")
        assert (unlocked["by"], unlocked["who"]) == ("pin", "alice")
        assert parse_time(unlocked["ts"]) - fifth_at == pytest.approx(PIN_LOCKOUT_S, abs=0.001)


async def test_other_methods_work_during_a_pin_lockout() -> None:
    async with lock_harness() as lock:
        for _ in range(5):
            await rejected(lock, "unlock", {"method": "pin", "pin": WRONG_PIN})
        await lock.ok("simulate.fingerprint", {"finger": "alice-right-index"})
        assert lock.state.locked is False


async def test_a_correct_pin_resets_the_wrong_pin_count() -> None:
    async with lock_harness() as lock:
        for _ in range(4):
            await rejected(lock, "unlock", {"method": "pin", "pin": WRONG_PIN})
        await lock.ok("unlock", {"method": "pin", "pin": BOB_PIN})
        assert last_state(lock)["wrong_pins"] == 0
        for _ in range(4):
            await rejected(lock, "unlock", {"method": "pin", "pin": WRONG_PIN})
        assert lock.events("pin_lockout") == []
        assert lock.events("unlocked")[0]["who"] == "bob"


async def test_jam_rejects_lock_and_unlock_until_cleared() -> None:
    async with lock_harness() as lock:
        await lock.ok("simulate.jam")
        (jam,) = lock.events("jammed")
        assert jam["locked"] is True
        before = lock.state.model_copy(deep=True)
        for command, args in (
            ("unlock", {"method": "app"}),
            ("unlock", {"method": "pin", "pin": ALICE_PIN}),
            ("simulate.fingerprint", {"finger": "alice-right-index"}),
            ("simulate.key", {"turn": "unlock"}),
        ):
            assert "jammed" in await rejected(lock, command, args)
        assert lock.state == before
        assert lock.events("unlocked") == []

        await lock.ok("simulate.clear_jam")
        await lock.ok("unlock", {"method": "app"})
        await lock.ok("simulate.jam")
        assert "jammed" in await rejected(lock, "lock")
        assert lock.state.locked is False
        await lock.ok("simulate.clear_jam")
        await lock.ok("lock")
        assert lock.state.locked is True


async def test_a_jam_drops_a_pending_auto_lock() -> None:
    async with lock_harness(state={"locked": False, "door_open": True}) as lock:
        await lock.ok("simulate.door", {"open": False})
        await lock.ok("simulate.jam")
        await lock.ok("simulate.clear_jam")
        await lock.clock.sleep(120)
        assert lock.state.locked is False


async def test_no_pin_ever_appears_in_what_the_lock_publishes() -> None:
    async with lock_harness() as lock:
        await lock.ok("unlock", {"method": "pin", "pin": ALICE_PIN})
        await lock.ok("simulate.door", {"open": True})
        await lock.ok("simulate.door", {"open": False})
        await lock.clock.sleep(40)
        for pin in (WRONG_PIN, "0000", "12ab", "1", ALICE_PIN + "9" * 10):
            await lock.command("unlock", {"method": "pin", "pin": pin})
        for _ in range(5):
            await lock.command("unlock", {"method": "pin", "pin": WRONG_PIN})
        await lock.command("unlock", {"method": "pin", "pin": BOB_PIN})
        await lock.clock.sleep(PIN_LOCKOUT_S)
        await lock.ok("unlock", {"method": "pin", "pin": BOB_PIN})

        cmd_prefix = lock.topics.cmd(lock.device.id, "")
        published = [m for m in lock.messages if not m.topic.startswith(cmd_prefix)]
        assert any(m.topic.endswith("/reply") for m in published)
        assert lock.events("pin_lockout")
        for message in published:
            text = message.payload.decode()
            for pin in (ALICE_PIN, BOB_PIN, WRONG_PIN, "12ab"):
                assert pin not in text, f"{pin} leaked on {message.topic}"


async def test_fingerprints_enrolled_or_declared() -> None:
    async with lock_harness() as lock:
        assert "not recognised" in await rejected(lock, "simulate.fingerprint", {"finger": "mallory-thumb"})
        assert "not recognised" in await rejected(
            lock, "simulate.fingerprint", {"finger": "alice-right-index", "known": False}
        )
        assert lock.state.locked is True
        await lock.ok("unlock", {"method": "fingerprint", "finger": "alice-right-index"})
        await lock.ok("lock")
        await lock.ok("simulate.fingerprint", {"finger": "guest-thumb", "known": True})
        assert [(e["by"], e["who"]) for e in lock.events("unlocked")] == [
            ("fingerprint", "alice-right-index"),
            ("fingerprint", "guest-thumb"),
        ]


async def test_opening_the_door_while_locked_is_forced_entry() -> None:
    async with lock_harness() as lock:
        await lock.ok("simulate.door", {"open": True})
        assert event_trace(lock) == [("door_opened", {}), ("tamper", {"reason": "forced_entry"})]
        assert lock.state.door_open is True
        await lock.ok("simulate.tamper")
        assert [e["reason"] for e in lock.events("tamper")] == ["forced_entry", "tampering"]


async def test_locking_with_the_door_open_is_rejected() -> None:
    async with lock_harness(state={"locked": False, "door_open": True}) as lock:
        assert "door is open" in await rejected(lock, "lock")
        assert "door is open" in await rejected(lock, "simulate.key", {"turn": "lock"})
        assert lock.state.locked is False
        assert lock.events("locked") == []


async def test_battery_drains_per_motor_actuation_not_for_the_key() -> None:
    async with lock_harness(state={"battery_pct": 50.0}) as lock:
        for _ in range(10):
            await lock.ok("unlock", {"method": "app"})
            await lock.ok("lock")
        assert lock.state.battery_pct == pytest.approx(50.0 - 20 * DRAIN_PCT_PER_ACTUATION, abs=0.001)
        level = lock.state.battery_pct
        await lock.ok("simulate.key", {"turn": "unlock"})
        await lock.ok("simulate.key", {"turn": "lock"})
        assert lock.state.battery_pct == level
        assert [e["by"] for e in lock.events("locked")][-1] == "key"


async def test_a_flat_battery_leaves_only_the_key() -> None:
    async with lock_harness(state={"battery_pct": 0.005}) as lock:
        await lock.ok("unlock", {"method": "app"})
        assert lock.state.battery_pct == 0.0
        await lock.ok("simulate.key", {"turn": "lock"})
        assert "battery" in await rejected(lock, "unlock", {"method": "app"})
        assert "battery" in await rejected(lock, "unlock", {"method": "pin", "pin": ALICE_PIN})
        await lock.ok("simulate.key")
        assert lock.state.locked is False


async def test_bad_args_change_nothing() -> None:
    async with lock_harness() as lock:
        before = lock.state.model_copy(deep=True)
        for args in (
            {"method": "pin"},
            {"method": "app", "pin": ALICE_PIN},
            {"method": "fingerprint"},
            {"method": "pin", "pin": "12ab"},
            {"method": "pin", "pin": ALICE_PIN, "user": "alice"},
            {"method": "crowbar"},
        ):
            reply = await lock.command("unlock", args)
            assert reply.error is not None
            assert reply.error.code == "invalid_args", args
        assert lock.state == before
        assert lock.events("unlocked") == []


def test_config_pins_must_be_digits() -> None:
    with pytest.raises(ConfigError, match="4 to 12 digits"):
        DeviceHarness(Lock, config={"pins": {"alice": "letmein"}})


async def test_set_locks_and_unlocks_as_the_app_does() -> None:
    """``set {"locked": ...}``: Home Assistant's lock entity sends both to one topic."""
    async with DeviceHarness(Lock, config=CONFIG) as lock:
        await lock.ok("set", {"locked": False})
        assert not lock.state.locked
        assert lock.events("unlocked")[-1]["by"] == "app"
        await lock.ok("set", {"locked": True})
        assert lock.state.locked
        assert lock.events("locked")[-1]["by"] == "app"
        await lock.ok("simulate.door", {"open": True})
        refused = await lock.command("set", {"locked": True})  # the door is open
        assert not refused.ok
        assert refused.error is not None
        assert refused.error.code == "rejected"
        bad = await lock.command("set", {"locked": "yes"})
        assert bad.error is not None
        assert bad.error.code == "invalid_args"
