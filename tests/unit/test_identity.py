"""The one client-id rule both brokers enforce, and controller seats (broker/identity.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hyperhome.broker.credentials import CONTROLLER_SEATS, FLEET_SEATS, HomeCredentials, Login, Principal, Role
from hyperhome.broker.identity import bound_client_id, claim_seat, client_id_of_login, may_connect
from hyperhome.errors import ConfigError


@pytest.fixture
def creds() -> HomeCredentials:
    return HomeCredentials.generate("demo", ["phone", "door-lock"])


@pytest.mark.parametrize(
    ("username", "client_id", "allowed"),
    [
        ("demo.phone", "demo.phone", True),
        ("demo.phone", "demo.door-lock", False),  # another device's
        ("demo.phone", "demo.phone-2", False),  # would be device phone-2's
        ("demo.phone", "demo.$orchestrator", False),
        ("demo.$orchestrator", "demo.$orchestrator", True),
        ("demo.$clock", "demo.$clock", True),
        ("demo.$controller", "demo.$controller", True),
        ("demo.$controller", "demo.$controller-3", False),  # a seat's, not the controller's own
        ("demo.$controller-3", "demo.$controller-3", True),
        ("demo.$controller-3", "demo.$controller-4", False),
        ("demo.$controller-3", "demo.phone", False),
        ("demo.$controller", "mosq-3f2a", False),  # a tool's random id
        ("other.phone", "demo.phone", False),  # another home's device
        ("demo.$controller-0", "demo.$controller-0", False),  # no such seat
        (f"demo.$controller-{CONTROLLER_SEATS + 1}", f"demo.$controller-{CONTROLLER_SEATS + 1}", False),
        ("demo.$controller-03", "demo.$controller-03", False),
        (None, "demo.phone", False),
        ("hh-operator", "hh-operator", False),  # not one of HyperHome's logins
    ],
)
def test_a_login_may_connect_only_with_its_own_client_id(username: str | None, client_id: str, allowed: bool) -> None:
    assert may_connect(username, client_id) is allowed


def test_every_login_of_a_home_has_its_own_client_id(creds: HomeCredentials) -> None:
    ids = [bound_client_id(who) for _login, who in creds.logins()]
    assert len(ids) == len(set(ids)) == 4 + 2 + CONTROLLER_SEATS  # 4 roles (integration too), 2 devices
    assert [login.username for login, _who in creds.logins()] == ids
    seats = [who for _login, who in creds.logins() if who.seat is not None]
    assert {who.role for who in seats} == {Role.CONTROLLER}
    assert {who.name for who in seats} == {"$controller"}  # a seat publishes the controller's $sync topic
    assert all(login.password == creds.controller.password for login, who in creds.logins() if who.seat)


def test_a_seat_is_read_back_from_its_username() -> None:
    assert Principal.from_username("demo.$controller-7") == Principal(home="demo", role=Role.CONTROLLER, seat=7)
    assert client_id_of_login("demo.$controller-7") == "demo.$controller-7"
    assert client_id_of_login("someone") is None


def test_controllers_take_different_seats_and_free_them(creds: HomeCredentials, tmp_path: Path) -> None:
    first = claim_seat("demo", creds.controller, lock_dir=tmp_path)
    second = claim_seat("demo", creds.controller, lock_dir=tmp_path)
    assert first is not None
    assert second is not None
    assert (first.client_id, second.client_id) == ("demo.$controller-1", "demo.$controller-2")
    assert first.login.password == creds.controller.password
    first.release()
    again = claim_seat("demo", creds.controller, lock_dir=tmp_path)
    assert again is not None
    assert again.client_id == "demo.$controller-1"
    for seat in (second, again):
        seat.release()


def test_a_seventeenth_controller_is_told_every_seat_is_taken(creds: HomeCredentials, tmp_path: Path) -> None:
    seats = [claim_seat("demo", creds.controller, lock_dir=tmp_path) for _ in range(CONTROLLER_SEATS)]
    with pytest.raises(ConfigError, match=f"all {CONTROLLER_SEATS} controller seats of home 'demo' are taken"):
        claim_seat("demo", creds.controller, lock_dir=tmp_path)
    other_run = HomeCredentials.generate("demo", ["phone"])  # another run of the home: seats of its own
    own = claim_seat("demo", other_run.controller, lock_dir=tmp_path)
    assert own is not None
    assert own.client_id == "demo.$controller-1"
    for seat in [*seats, own]:
        assert seat is not None
        seat.release()


def test_an_operators_own_controller_login_has_no_seats(tmp_path: Path) -> None:
    assert claim_seat("demo", Login(username="hh-controller", password="pw"), lock_dir=tmp_path) is None


def test_a_home_with_fewer_seats_claims_only_those(tmp_path: Path) -> None:
    """A fleet home holds FLEET_SEATS seats at the broker: a third controller is refused here,
    naming the count, rather than trying a seat the broker does not know."""
    creds = HomeCredentials.generate("demo", ["lamp"]).model_copy(update={"seats": FLEET_SEATS})
    assert [who.seat for _, who in creds.logins() if who.seat is not None] == list(range(1, FLEET_SEATS + 1))
    held = [claim_seat("demo", creds.controller, count=creds.seats, lock_dir=tmp_path) for _ in range(FLEET_SEATS)]
    assert [seat.login.username for seat in held if seat is not None] == [
        f"demo.$controller-{n}" for n in range(1, FLEET_SEATS + 1)
    ]
    with pytest.raises(ConfigError, match=f"all {FLEET_SEATS} controller seats of home 'demo' are taken"):
        claim_seat("demo", creds.controller, count=creds.seats, lock_dir=tmp_path)
    for seat in held:
        assert seat is not None
        seat.release()
