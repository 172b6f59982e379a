"""Choosing a broker by URL: mqtts://, the TLS files, the logins file, and passwords never shown."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hyperhome.broker.client import Endpoint
from hyperhome.broker.credentials import ClientLogins, FileLogin, HomeCredentials, Login, TlsFiles
from hyperhome.broker.launch import BrokerChoice, open_broker
from hyperhome.errors import ConfigError
from tests.own_broker import make_pki


def _logins(*devices: str) -> ClientLogins:
    def login(name: str) -> FileLogin:
        return FileLogin(username=f"hh-{name}", password=f"pw-{name}")

    return ClientLogins(
        orchestrator=login("orchestrator"),
        controller=login("controller"),
        devices={d: login(d) for d in devices},
    ).located("logins.yaml:4")


def test_mqtts_is_tls_on_8883_by_default() -> None:
    choice = BrokerChoice.parse("mqtts://ha:pw@broker.lan")
    assert (choice.host, choice.port, choice.username, choice.password) == ("broker.lan", 8883, "ha", "pw")
    assert choice.tls == TlsFiles()
    assert choice.describe() == "mqtts://ha@broker.lan:8883"
    assert BrokerChoice.parse("mqtts://broker.lan:18883").port == 18883
    assert BrokerChoice.parse("mqtt://broker.lan").tls is None
    assert not choice.enforces_contract
    assert BrokerChoice.parse("mosquitto").enforces_contract


def test_tls_files_are_made_absolute_and_checked_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pki = make_pki(tmp_path / "pki")
    monkeypatch.chdir(tmp_path)
    choice = BrokerChoice.parse(
        "mqtts://broker.lan",
        ca_file=Path("pki") / pki.ca.name,
        cert_file=Path("pki/client.pem"),
        key_file=Path("pki/client.key"),
    )
    assert choice.tls == TlsFiles(ca_file=pki.ca, cert_file=pki.client_cert, key_file=pki.client_key)
    assert choice.tls is not None
    assert choice.tls.context() is choice.tls.context()  # one SSL context for every connection


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ca_file": Path("/nonexistent/ca.pem")}, "--ca-file /nonexistent/ca.pem: no such file"),
        ({"ca_file": "{tmp}/client.key"}, "--ca-file {tmp}/client.key: not a PEM file of CA certificates"),
        ({"cert_file": "{tmp}/ca.txt"}, "--cert-file {tmp}/ca.txt: not a PEM certificate with its key"),
        ({"cert_file": "{tmp}/client.pem"}, "--cert-file {tmp}/client.pem: not a PEM certificate with its key"),
        ({"key_file": "{tmp}/client.key"}, "--key-file needs --cert-file"),
    ],
)
def test_unusable_tls_files_are_one_clear_error(tmp_path: Path, options: dict[str, object], message: str) -> None:
    pki = make_pki(tmp_path)
    (tmp_path / "ca.txt").write_text("not a certificate\n")
    assert pki.client_key.parent == tmp_path
    given = {k: Path(str(v).format(tmp=tmp_path)) for k, v in options.items()}
    with pytest.raises(ConfigError, match=re.escape(message.format(tmp=tmp_path))):
        BrokerChoice.parse("mqtts://broker.lan", **given)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "options", "message"),
    [
        ("mqtt://broker.lan", {"ca_file": Path("ca.pem")}, "--ca-file needs TLS: use mqtts:// instead of mqtt://"),
        ("mosquitto", {"ca_file": Path("ca.pem")}, "--ca-file applies to a broker URL only; 'mosquitto' makes"),
        ("embedded", {"logins": _logins()}, "--logins applies to a broker URL only"),
        ("mqtt://ha:pw@broker.lan", {"logins": _logins()}, "from --logins or from the URL"),
    ],
)
def test_options_that_do_not_go_with_the_broker_are_refused(
    text: str, options: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        BrokerChoice.parse(text, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "http://ha:s3cret@broker.lan",
        "mqtt://ha:s3cret@broker.lan/topic",
        "mqtt://ha:s3cret@broker.lan:99999",
        "mqtt://ha:s3cret@[broker.lan",
        "mqtts://ha:s3c@ret@broker.lan/x",
        "mqtt://:s3cret@broker.lan",
    ],
)
def test_no_error_about_a_url_shows_its_password(text: str) -> None:
    with pytest.raises(ConfigError) as refused:
        BrokerChoice.parse(text)
    assert "s3c" not in str(refused.value)
    assert "***" in str(refused.value)


async def test_a_logins_file_gives_each_client_its_own_login() -> None:
    creds = HomeCredentials.generate("demo", ["living-ac", "phone"])
    choice = BrokerChoice.parse("mqtts://broker.lan", logins=_logins("living-ac", "phone", "elsewhere"))
    assert choice.describe() == "mqtts://broker.lan:8883 (a login per client)"
    async with open_broker(choice, [creds]) as (ready,):
        assert ready.controller == Login(username="hh-controller", password="pw-controller")
        assert ready.orchestrator.username == ready.clock.username == "hh-orchestrator"
        assert {d: login.username for d, login in ready.devices.items()} == {
            "living-ac": "hh-living-ac",
            "phone": "hh-phone",
        }
        assert ready.tls == TlsFiles()
        assert Endpoint.of(ready) == Endpoint("broker.lan", 8883, TlsFiles())
        assert "pw-" not in repr(choice) + repr(ready)


async def test_a_logins_file_missing_a_device_of_the_home_names_it() -> None:
    creds = HomeCredentials.generate("demo", ["living-ac", "phone", "tablet"])
    choice = BrokerChoice.parse("mqtt://broker.lan", logins=_logins("living-ac"))
    message = "logins.yaml:4: devices: no login for devices 'phone', 'tablet' of home 'demo'"
    with pytest.raises(ConfigError, match=re.escape(message)):
        choice.check_home("demo", creds.devices)
    with pytest.raises(ConfigError, match=re.escape(message)):
        async with open_broker(choice, [creds]):
            pass


def test_the_credentials_file_keeps_the_tls_files(tmp_path: Path) -> None:
    creds = HomeCredentials.generate("demo", ["phone"]).model_copy(
        update={"tls": TlsFiles(ca_file=tmp_path / "ca.pem")}
    )
    creds.save(tmp_path / "credentials.json")
    assert HomeCredentials.load(tmp_path / "credentials.json").tls == TlsFiles(ca_file=tmp_path / "ca.pem")


def test_a_broken_credentials_file_never_shows_a_password(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    data = HomeCredentials.generate("demo", ["phone"], password="s3cret-pw").model_dump(mode="json")
    data["devices"]["phone"]["password"] = ["s3cret-pw"]
    data["tls"] = {"ca_file": "/ca.pem", "capath": "s3cret-pw"}
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as refused:
        HomeCredentials.load(path)
    assert str(refused.value) == (
        f"credentials file {path} is not valid: devices.phone.password: Input should be a valid string; "
        "tls.capath: Extra inputs are not permitted"
    )
