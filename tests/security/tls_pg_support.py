"""A throw-away PostgreSQL cluster with TLS and password (SCRAM) authentication, for tests.

The shared server on 127.0.0.1:5432 has no TLS and trusts everyone, so TLS verification and
password handling can only be tested against a server of our own: ``initdb``/``pg_ctl`` from
``/usr/lib/postgresql/*/bin`` in a temp dir, on a free port, with a self-signed CA made by the
``cryptography`` package. pg_hba: TLS + scram-sha-256 from 127.0.0.1, clear-text refused.
When the tests run as root (containers) the cluster runs as the ``postgres`` OS user.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from glob import glob
from pathlib import Path

import pytest
from pg_support import IN_CI


def _bin_dir() -> Path | None:
    found = sorted(glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    which = shutil.which("initdb")
    return Path(which).parent if which else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cert(subject: str, key, issuer_name, issuer_key, ca: bool, sans: list | None = None):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(issuer_name or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


def _pem(obj) -> bytes:
    from cryptography.hazmat.primitives import serialization

    if hasattr(obj, "private_bytes"):
        return obj.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                 serialization.NoEncryption())
    return obj.public_bytes(serialization.Encoding.PEM)


def make_certs(where: Path) -> tuple[Path, Path, Path, Path]:
    """(root CA, wrong root CA, server cert, server key): the server cert names 127.0.0.1 and localhost."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

    ca_key, wrong_key, server_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = _cert("payroll test root CA", ca_key, None, None, ca=True)
    wrong = _cert("payroll test root CA", wrong_key, None, None, ca=True)  # same name, other key
    server = _cert("localhost", server_key, ca.subject, ca_key, ca=False,
                   sans=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    paths = (where / "root.crt", where / "wrong-root.crt", where / "server.crt", where / "server.key")
    for path, obj in zip(paths, (ca, wrong, server, server_key)):
        path.write_bytes(_pem(obj))
    return paths


@dataclass
class TlsPostgres:
    """A running cluster: connect as ``postgres`` over the socket for admin work."""

    port: int
    root_cert: Path
    wrong_root_cert: Path
    socket_dir: Path

    def admin(self):
        import psycopg

        return psycopg.connect(host=str(self.socket_dir), port=self.port, user="postgres", dbname="postgres",
                               autocommit=True)

    def create_role(self, name: str, password: str, database: str | None = None) -> None:
        """A login role with ``password`` (scram) owning ``database`` (created when given); CREATEROLE
        because the warehouse migration creates the access roles (warehouse/access.py)."""
        from psycopg import sql

        with self.admin() as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD {}").format(sql.Identifier(name),
                                                                          sql.Literal(password)))
            if database:
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database),
                                                                          sql.Identifier(name)))


def start_tls_postgres(tmp: Path) -> tuple[TlsPostgres, callable]:
    """Start the cluster under ``tmp``; returns it and a stop function. Skips (fails in CI) when
    the PostgreSQL server binaries are not installed."""
    bindir = _bin_dir()
    if bindir is None:
        msg = "initdb/pg_ctl not found (install postgresql server binaries)"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        as_user = ["runuser", "-u", "postgres", "--"]
    data, sock = tmp / "data", tmp / "sock"
    sock.mkdir()
    if as_user:
        import pwd

        pw = pwd.getpwnam("postgres")
        for p in (tmp, sock):
            os.chown(p, pw.pw_uid, pw.pw_gid)

    def run(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, timeout=120)

    run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
    root, wrong, crt, key = make_certs(tmp)
    shutil.move(crt, data / "server.crt")
    shutil.move(key, data / "server.key")
    os.chmod(data / "server.key", 0o600)
    if as_user:
        for name in ("server.crt", "server.key"):
            os.chown(data / name, pw.pw_uid, pw.pw_gid)
    port = _free_port()
    with open(data / "postgresql.conf", "a") as conf:
        conf.write(f"\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{sock}'\n"
                   "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n"
                   "password_encryption = 'scram-sha-256'\nfsync = off\nshared_buffers = 16MB\n"
                   "max_connections = 20\n")
    (data / "pg_hba.conf").write_text(
        "local all postgres trust\n"
        "hostssl all all 127.0.0.1/32 scram-sha-256\n"
        "hostnossl all all 127.0.0.1/32 reject\n")
    run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(tmp / "server.log"), "-w", "-t", "60", "start")

    def stop() -> None:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                       capture_output=True, timeout=60)

    return TlsPostgres(port, root, wrong, sock), stop


@pytest.fixture(scope="module")
def tls_postgres():
    """A TLS + SCRAM PostgreSQL for one test module; stopped and removed afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix="payroll-tls-pg-"))
    os.chmod(tmp, 0o755)
    server, stop = start_tls_postgres(tmp)
    try:
        yield server
    finally:
        stop()
        shutil.rmtree(tmp, ignore_errors=True)
