"""Any broker by URL, as an operator runs one: one shared login, a login per client, TLS.

Every broker here is a Mosquitto the test configures itself (tests/own_broker.py), not the
managed one: its own password file, ``allow_anonymous false``, its own TLS certificates. Each
test runs a shipped scenario end to end through ``hyperhome run --broker URL`` and reads the
broker's log: every client has its own client id, whatever its login, and none was taken over.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from hyperhome.broker.acl import mosquitto_acl
from hyperhome.broker.credentials import HomeCredentials, Principal, Role
from hyperhome.home.homefile import load_home
from tests.own_broker import OwnBroker, make_ca, make_pki, own_mosquitto
from tests.processes import hyperhome_up, run_hyperhome

pytestmark = pytest.mark.mosquitto

SCENARIO = "living_room_cooldown"
DEVICES = [spec.id for spec in load_home("demo").devices]
SECRET = "s3cret-Passw0rd"


def _assert_own_client_ids(broker: OwnBroker) -> list[tuple[str, str | None]]:
    """Each client connected once under its own id; the broker closed no connection for a newer one."""
    connections = broker.connections()
    ids = Counter(client_id for client_id, _user in connections)
    assert [cid for cid, n in ids.items() if n > 1] == [], connections
    assert "already connected" not in broker.log()
    expected = {f"demo.{d}" for d in DEVICES} | {"demo.$orchestrator", "demo.$clock"}
    assert expected <= set(ids), sorted(ids)
    controllers = [cid for cid in ids if cid.startswith("demo.$controller-")]
    assert len(controllers) == 1, sorted(ids)
    assert set(ids) == expected | set(controllers)
    return connections


def _assert_passed(code: int, out: str, err: str) -> None:
    assert code == 0, out + err
    assert f"passed {SCENARIO}" in out
    assert "matched" in out  # the golden trace: the same story as on the brokers HyperHome runs
    assert "Traceback" not in err
    assert "never retrieved" not in err
    assert SECRET not in out + err


def _one_error_line(code: int, out: str, err: str) -> str:
    assert code == 2, out + err
    assert "Traceback" not in out + err
    assert "never retrieved" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert SECRET not in out + err
    return lines[0]


# -- one login for every client ---------------------------------------------------------------------
async def test_one_shared_login_from_the_url(tmp_path: Path) -> None:
    async with own_mosquitto(tmp_path / "broker", {"operator": SECRET}) as broker:
        url = f"mqtt://operator:{SECRET}@127.0.0.1:{broker.port}"
        _assert_passed(*await run_hyperhome("run", SCENARIO, "--broker", url, "-q"))
    connections = _assert_own_client_ids(broker)
    assert {user for _cid, user in connections} == {"operator"}


async def test_a_wrong_password_is_one_error_line(tmp_path: Path) -> None:
    async with own_mosquitto(tmp_path / "broker", {"operator": "the-right-one"}) as broker:
        url = f"mqtt://operator:{SECRET}@127.0.0.1:{broker.port}"
        line = _one_error_line(*await run_hyperhome("run", SCENARIO, "--broker", url, "-q", timeout_s=30))
    assert line == (
        f"error: could not connect to 127.0.0.1:{broker.port} as operator: "
        "refused: bad username or password / not authorised"
    )


# -- a login per client -----------------------------------------------------------------------------
def _logins_file(path: Path, devices: list[str]) -> dict[str, str]:
    """A logins file in the operator's names (not HyperHome's ``home.name``); its users and passwords."""
    data: dict[str, Any] = {
        "orchestrator": {"username": "hh-orchestrator", "password": f"{SECRET}-o"},
        "controller": {"username": "hh-controller", "password": f"{SECRET}-c"},
        "devices": {d: {"username": f"hh-{d}", "password": f"{SECRET}-{d}"} for d in devices},
    }
    path.write_text(json.dumps(data, indent=2))
    users = {data["orchestrator"]["username"]: data["orchestrator"]["password"]}
    users[data["controller"]["username"]] = data["controller"]["password"]
    users |= {login["username"]: login["password"] for login in data["devices"].values()}
    return users


def _operator_acl(users: dict[str, str]) -> str:
    """The contract's access control rendered for the operator's usernames (docs/point-at-mosquitto.md)."""
    logins = [("hh-orchestrator", Principal(home="demo", role=Role.ORCHESTRATOR))]
    logins.append(("hh-controller", Principal(home="demo", role=Role.CONTROLLER)))
    logins += [(f"hh-{d}", Principal(home="demo", role=Role.DEVICE, device=d)) for d in DEVICES]
    assert {user for user, _ in logins} == set(users)
    return mosquitto_acl(logins)


async def test_a_login_per_client_from_a_logins_file(tmp_path: Path) -> None:
    logins = tmp_path / "logins.json"
    users = _logins_file(logins, DEVICES)
    async with own_mosquitto(tmp_path / "broker", users, acl=_operator_acl(users)) as broker:
        url = f"mqtt://127.0.0.1:{broker.port}"
        _assert_passed(*await run_hyperhome("run", SCENARIO, "--broker", url, "--logins", str(logins), "-q"))
    connections = _assert_own_client_ids(broker)
    user_of = dict(connections)
    assert {user_of[f"demo.{d}"] for d in DEVICES} == {f"hh-{d}" for d in DEVICES}
    assert user_of["demo.$orchestrator"] == "hh-orchestrator"
    assert user_of["demo.$clock"] == "hh-orchestrator"  # no clock login in the file: the orchestrator's
    assert {user for cid, user in connections if cid.startswith("demo.$controller-")} == {"hh-controller"}


async def test_one_wrong_password_in_the_logins_file_names_that_login(tmp_path: Path) -> None:
    logins = tmp_path / "logins.json"
    users = _logins_file(logins, DEVICES)
    users["hh-phone"] = "changed-by-the-operator"
    async with own_mosquitto(tmp_path / "broker", users) as broker:
        url = f"mqtt://127.0.0.1:{broker.port}"
        line = _one_error_line(
            *await run_hyperhome("run", SCENARIO, "--broker", url, "--logins", str(logins), "-q", timeout_s=30)
        )
    assert line == (
        f"error: could not connect to 127.0.0.1:{broker.port} as hh-phone: "
        "refused: bad username or password / not authorised"
    )


async def test_the_barrier_proves_quiet_by_rounds_only_with_the_operators_logins(tmp_path: Path) -> None:
    """The operator's usernames and rights are not the contract's: nothing is counted, rounds decide."""
    from hyperhome.broker.launch import BrokerChoice
    from hyperhome.home.loginsfile import load_logins
    from hyperhome.home.runtime import Home

    logins = tmp_path / "logins.yaml"
    users = _logins_file(logins, DEVICES)
    async with own_mosquitto(tmp_path / "broker", users) as broker:
        choice = BrokerChoice.parse(f"mqtt://127.0.0.1:{broker.port}", logins=load_logins(logins))
        async with Home(load_home("demo"), broker=choice) as home, home.controller() as ctl:
            await ctl.synced()
            assert home.barrier is not None
            await ctl.send("living-ac", "set", {"power": True, "target_c": 24})
            t0 = home.clock.now()
            await home.clock.sleep(600)
            assert home.clock.now() - t0 == pytest.approx(600)
            state = ctl.registry.devices["living-ac"].state
            assert state is not None
            assert state["room_temp_c"] < 31.0  # ten simulated minutes of cooling passed
            assert home.barrier.rounds > 0
            assert home.barrier.counted_proofs == 0
            assert home.credentials is not None
            assert home.credentials.device("phone").username == "hh-phone"


# -- TLS ------------------------------------------------------------------------------------------------
async def test_mqtts_with_a_ca_file(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    async with own_mosquitto(tmp_path / "broker", {"operator": SECRET}, pki=pki) as broker:
        url = f"mqtts://operator:{SECRET}@localhost:{broker.port}"
        _assert_passed(*await run_hyperhome("run", SCENARIO, "--broker", url, "--ca-file", str(pki.ca), "-q"))
    _assert_own_client_ids(broker)


async def test_mqtts_with_a_client_certificate_and_a_logins_file(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    logins = tmp_path / "logins.yaml"
    users = _logins_file(logins, DEVICES)
    async with own_mosquitto(tmp_path / "broker", users, pki=pki, require_certificate=True) as broker:
        url = f"mqtts://127.0.0.1:{broker.port}"
        tls = ["--ca-file", str(pki.ca), "--cert-file", str(pki.client_cert), "--key-file", str(pki.client_key)]
        _assert_passed(*await run_hyperhome("run", SCENARIO, "--broker", url, "--logins", str(logins), *tls, "-q"))
        # without the certificate the broker hangs up during the handshake: one line, exit 2
        line = _one_error_line(
            *await run_hyperhome(
                "run", SCENARIO, "--broker", url, "--logins", str(logins), "--ca-file", str(pki.ca), timeout_s=30
            )
        )
        assert line.startswith(f"error: could not connect to 127.0.0.1:{broker.port} as hh-orchestrator: ")
    _assert_own_client_ids(broker)


async def test_mqtts_refuses_a_broker_whose_certificate_another_ca_signed(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    other_ca, _key, _name = make_ca(tmp_path, "Some other CA")
    async with own_mosquitto(tmp_path / "broker", {"operator": SECRET}, pki=pki) as broker:
        url = f"mqtts://operator:{SECRET}@127.0.0.1:{broker.port}"
        line = _one_error_line(
            *await run_hyperhome("run", SCENARIO, "--broker", url, "--ca-file", str(other_ca), timeout_s=30)
        )
    assert line.startswith(f"error: could not connect to 127.0.0.1:{broker.port} as operator: ")
    assert "certificate verify failed" in line


async def test_up_over_mqtts_with_logins_then_devices_and_send_from_the_credentials_file(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    logins = tmp_path / "logins.yaml"
    users = _logins_file(logins, DEVICES)
    creds_path = tmp_path / "credentials.json"
    async with own_mosquitto(tmp_path / "broker", users, acl=_operator_acl(users), pki=pki) as broker:
        url = f"mqtts://127.0.0.1:{broker.port}"
        options = ["--broker", url, "--logins", str(logins), "--ca-file", str(pki.ca), "--api-port", "0"]
        async with hyperhome_up(*options, "--credentials", str(creds_path)) as up:
            assert f"mqtts://127.0.0.1:{broker.port} (a login per client)" in up.output
            assert f"--cafile '{pki.ca}'" in up.output  # the watch line works over TLS too
            assert SECRET not in up.output
            creds = HomeCredentials.load(creds_path)
            assert creds.tls is not None
            assert creds.tls.ca_file == pki.ca
            assert creds.controller.username == "hh-controller"
            code, out, err = await run_hyperhome("devices", "--json", "--credentials", str(creds_path))
            assert code == 0, out + err
            assert {d["id"] for d in json.loads(out)} == set(DEVICES)
            args = '{"power": true, "target_c": 24}'
            code, out, err = await run_hyperhome("send", "living-ac", "set", args, "--credentials", str(creds_path))
            assert code == 0, out + err
            assert json.loads(out)["ok"] is True
    assert up.proc.returncode == 0
    assert "Traceback" not in up.stderr, up.stderr
    connections = broker.connections()
    assert "already connected" not in broker.log()
    assert len({cid for cid, _ in connections}) == len(connections)


async def test_bench_over_mqtts_with_a_shared_login(tmp_path: Path) -> None:
    """The raw clients of the overhead bench and density's child process connect over TLS too."""
    pki = make_pki(tmp_path / "pki")
    async with own_mosquitto(tmp_path / "broker", {"operator": SECRET}, pki=pki) as broker:
        url = f"mqtts://operator:{SECRET}@127.0.0.1:{broker.port}"
        tls = ["--broker", url, "--ca-file", str(pki.ca)]
        code, out, err = await run_hyperhome("bench", "overhead", *tls, "--messages", "20")
        assert code == 0, out + err
        assert f"overhead on mqtts://operator@127.0.0.1:{broker.port}" in out
        density = ["--devices", "2", "--period", "0.2", "--window", "0.3"]
        code, out, err = await run_hyperhome("bench", "density", *tls, *density)
        assert code == 0, out + err
        assert "failed" not in out
        assert SECRET not in out + err
    connections = broker.connections()
    assert len({cid for cid, _ in connections}) == len(connections)
    assert "already connected" not in broker.log()
