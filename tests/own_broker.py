"""A broker that is not HyperHome's: a Mosquitto the test configures itself, as an operator would.

Not the managed ``MosquittoBroker``: its own password file (hashed by ``mosquitto_passwd``),
``allow_anonymous false``, an optional ACL, an optional TLS listener with a throwaway CA made
with ``cryptography``, and a log at notice level that shows every client id and username::

    async with own_mosquitto(tmp_path, {"op": "pw"}) as broker:
        ...  # mqtt://op:pw@127.0.0.1:{broker.port}
    broker.connections()  # [(client id, username), ...] in connect order
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import os
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hyperhome.broker.mosquitto import _dies_with, _hash_passwords, find_mosquitto

_CONNECTED = re.compile(r"New client connected from \S+ as (\S+) \(.*?(?:u'([^']*)')?\)\.")
_START_S = 10.0


def mosquitto_binary() -> str:
    """The mosquitto binary; skipped without it, failed under ``CI=true``."""
    binary = find_mosquitto()
    if binary is None:
        reason = "the mosquitto binary is not installed (apt install mosquitto)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs mosquitto: {reason}")
        pytest.skip(reason)
    return binary


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- a throwaway CA -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pki:
    """PEM files: a CA, a server certificate for 127.0.0.1 and localhost, a client certificate."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: str, issuer: str, key: ec.EllipticCurvePrivateKey) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )


def make_ca(folder: Path, name: str = "HyperHome test CA") -> tuple[Path, ec.EllipticCurvePrivateKey, str]:
    """A self-signed CA: its certificate file, its key and its name."""
    key = _key()
    cert = (
        _builder(name, name, key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = folder / f"{name.replace(' ', '-').lower()}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, key, name


def _issue(
    folder: Path, stem: str, ca: tuple[Path, ec.EllipticCurvePrivateKey, str], *, server: bool
) -> tuple[Path, Path]:
    _ca_path, ca_key, ca_name = ca
    key = _key()
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        _builder("localhost" if server else stem, ca_name, key)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if server:
        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    cert_path, key_path = folder / f"{stem}.pem", folder / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, key_path)
    return cert_path, key_path


def make_pki(folder: Path) -> Pki:
    folder.mkdir(parents=True, exist_ok=True)
    ca = make_ca(folder)
    server_cert, server_key = _issue(folder, "server", ca, server=True)
    client_cert, client_key = _issue(folder, "client", ca, server=False)
    return Pki(ca[0], server_cert, server_key, client_cert, client_key)


# -- the broker -----------------------------------------------------------------------------------
@dataclass
class OwnBroker:
    port: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def connections(self) -> list[tuple[str, str | None]]:
        """(client id, username) of every connection the broker accepted, in order."""
        return [(m[1], m[2]) for m in _CONNECTED.finditer(self.log())]


def _configure(
    folder: Path, users: dict[str, str], acl: str | None, pki: Pki | None, require_certificate: bool
) -> tuple[Path, Path, int]:
    """Write the broker's files: its configuration, the plain password file (to hash) and its port."""
    folder.mkdir(parents=True, exist_ok=True)
    passwd = folder / "passwd"
    passwd.write_text("".join(f"{user}:{password}\n" for user, password in users.items()))
    port = free_port()
    lines = [
        *(["user root"] if os.geteuid() == 0 else []),  # else it drops to 'mosquitto', who cannot read tmp_path
        f"listener {port} 127.0.0.1",
        "allow_anonymous false",
        f"password_file {passwd}",
        "persistence false",
        f"log_dest file {folder / 'mosquitto.log'}",
        *(f"log_type {kind}" for kind in ("error", "warning", "notice", "information")),
        "connection_messages true",
        "max_inflight_messages 0",  # in-order delivery, as docs/point-at-mosquitto.md asks for virtual time
    ]
    if acl is not None:
        (folder / "acl").write_text(acl)
        lines.append(f"acl_file {folder / 'acl'}")
    if pki is not None:
        lines += [f"cafile {pki.ca}", f"certfile {pki.server_cert}", f"keyfile {pki.server_key}"]
        lines.append(f"require_certificate {'true' if require_certificate else 'false'}")
    conf = folder / "mosquitto.conf"
    conf.write_text("\n".join(lines) + "\n")
    return conf, passwd, port


@contextlib.asynccontextmanager
async def own_mosquitto(
    folder: Path,
    users: dict[str, str],
    *,
    acl: str | None = None,
    pki: Pki | None = None,
    require_certificate: bool = False,
) -> AsyncIterator[OwnBroker]:
    """Mosquitto on 127.0.0.1 and a free port: these users only, TLS when given ``pki``."""
    binary = mosquitto_binary()
    conf, passwd, port = _configure(folder, users, acl, pki, require_certificate)
    await _hash_passwords(passwd, Path(binary).parent)  # the managed broker's own hashing
    proc = await asyncio.create_subprocess_exec(
        binary,
        "-c",
        str(conf),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=_dies_with(os.getpid()),  # never left running if the test process dies
    )
    try:
        await _wait_listening(port, proc)
        yield OwnBroker(port, folder / "mosquitto.log")
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                async with asyncio.timeout(5):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _wait_listening(port: int, proc: asyncio.subprocess.Process) -> None:
    async with asyncio.timeout(_START_S):
        while True:
            if proc.returncode is not None:
                assert proc.stderr is not None
                pytest.fail(f"mosquitto exited at start: {(await proc.stderr.read()).decode()}")
            try:
                _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.02)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return
