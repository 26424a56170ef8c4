"""The clear BSN and IBAN, encrypted at rest in ``person_identity``; one audited read path.

Encryption happens in the pipeline process, before anything reaches the database (not even a
temporary table or the WAL sees a clear BSN), the same way on PostgreSQL and DuckDB:

* AES-SIV (RFC 5297, ``cryptography``'s ``AESSIV``) with a 512-bit key derived by HKDF-SHA256 from
  the secret of the current key id; associated data = (``person_key``, column name), so a
  ciphertext cannot be moved to another person or column. SIV is deterministic: the same IBAN of
  the same person encrypts to the same text, so a re-run or an unchanged IBAN writes nothing and
  a change is still detected by comparing ciphertexts. It reveals equality within one person's
  row only (the person is in the associated data).
* Stored text: ``v1:<key id>:<base64url>``; ``person_identity.key_id`` names the key too.
* Keys live outside the database (``settings.identity_keys``): ``PAYROLL_IDENTITY_KEYS`` =
  ``"<id>:<secret>,<older id>:<older secret>"`` (the first is current) from the secret store, or
  the Airflow Connection ``payroll_identity_keys``; the built-in demo key is for the simulators only.

Why not pgcrypto: ``pgp_sym_encrypt(bsn, key)`` sends key and clear BSN to the server in the SQL
text (``pg_stat_activity``, ``log_statement``, ``auto_explain``), and DuckDB has no equivalent.

Reads of the clear values go through :func:`read_identities` only: it records who read which
``person_key``, when and why in ``person_identity_read`` in the same transaction as the read (no
audit row, no data), then decrypts in the caller's process. On PostgreSQL only
``benefits_restricted`` may SELECT ``person_identity`` and INSERT into ``person_identity_read``.

Key rotation: :func:`rotate` re-encrypts every row not under the current key (see docs/privacy.md).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from payroll_etl.errors import ConfigurationError
from payroll_etl.warehouse.batch import LoadBatch
from payroll_etl.warehouse.db import Db, in_list

log = logging.getLogger(__name__)

FORMAT = "v1"
HKDF_INFO = b"payroll-etl person_identity AES-SIV v1"
SEALED_TYPES = {"person_key": "VARCHAR(64)", "bsn_enc": "TEXT", "iban_enc": "TEXT", "key_id": "VARCHAR(32)"}


@lru_cache(maxsize=16)
def _cipher(secret: str) -> Any:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESSIV
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return AESSIV(HKDF(hashes.SHA256(), 64, salt=None, info=HKDF_INFO).derive(secret.encode()))


@dataclass(frozen=True)
class Keyring:
    """Key ids -> secrets; ``current`` encrypts, every key decrypts."""

    current: str
    secrets: dict[str, str]

    @classmethod
    def load(cls) -> Keyring:
        """The keyring of ``PAYROLL_IDENTITY_KEYS`` (``settings.identity_keys``): the ``current`` key seals."""
        from payroll_etl.settings import identity_keys

        current, secrets = identity_keys()
        return cls(current, secrets)

    def seal(self, person_key: str, column: str, value: str | None) -> str | None:
        """``v1:<key id>:<base64url(AES-SIV)>`` of ``value``; None stays None."""
        if value is None:
            return None
        token = _cipher(self.secrets[self.current]).encrypt(value.encode(), [person_key.encode(), column.encode()])
        return f"{FORMAT}:{self.current}:{base64.urlsafe_b64encode(token).decode()}"

    def open(self, person_key: str, column: str, sealed: str | None) -> str | None:
        """The clear value of a sealed text. A missing key or a tampered text raises
        ConfigurationError naming the key id / person_key, never a value."""
        if sealed is None:
            return None
        from cryptography.exceptions import InvalidTag

        try:
            version, key_id, payload = sealed.split(":", 2)
        except ValueError:
            raise ConfigurationError(f"person_identity {person_key}.{column}: not an encrypted value") from None
        if version != FORMAT or key_id not in self.secrets:
            raise ConfigurationError(f"person_identity {person_key}.{column}: key {key_id!r} is not in "
                                     "PAYROLL_IDENTITY_KEYS (rotated away too early?)")
        try:
            clear = _cipher(self.secrets[key_id]).decrypt(base64.urlsafe_b64decode(payload),
                                                          [person_key.encode(), column.encode()])
        except (InvalidTag, ValueError):
            raise ConfigurationError(f"person_identity {person_key}.{column}: does not decrypt with key "
                                     f"{key_id!r} (wrong key, or the value was altered)") from None
        return clear.decode()


def seal_table(identities: Any, keyring: Keyring | None = None) -> Any:
    """Arrow (person_key, bsn, iban) -> Arrow (person_key, bsn_enc, iban_enc, key_id), one row per key."""
    import pyarrow as pa

    keyring = keyring or Keyring.load()
    seen: dict[str, tuple[str | None, str | None]] = {}
    for pk, bsn, iban in zip(*(identities.column(c).to_pylist() for c in ("person_key", "bsn", "iban"))):
        if pk is not None and pk not in seen:
            seen[pk] = (bsn, iban)
    keys = sorted(seen)
    return pa.table({
        "person_key": pa.array(keys, pa.string()),
        "bsn_enc": pa.array([keyring.seal(k, "bsn", seen[k][0]) for k in keys], pa.string()),
        "iban_enc": pa.array([keyring.seal(k, "iban", seen[k][1]) for k in keys], pa.string()),
        "key_id": pa.array([keyring.current] * len(keys), pa.string()),
    })


@dataclass
class SealedLoadBatch(LoadBatch):
    """A LoadBatch whose identities are already encrypted (``seal_table``); ``identities`` stays None,
    so no clear BSN is ever staged. Written by :func:`store_identities` inside the load transaction."""

    sealed_identities: Any | None = None


def store_identities(db: Db, batch: LoadBatch, changes: dict[str, dict[str, int]]) -> None:
    """Upsert the batch's sealed identities (post-load step): new person_keys are inserted; a
    changed IBAN (or a row under an older key) is updated. Idempotent (SIV is deterministic)."""
    sealed = getattr(batch, "sealed_identities", None)
    if sealed is None or sealed.num_rows == 0:
        return
    db.stage("stage_sealed_identity", sealed, SEALED_TYPES)
    params = {"now": batch.recorded_at, "run": batch.load_run_id}
    db.execute(
        "UPDATE person_identity p SET iban_enc = s.iban_enc, bsn_enc = s.bsn_enc, key_id = s.key_id, "
        "updated_at = CAST(:now AS TIMESTAMPTZ) FROM stage_sealed_identity s WHERE p.person_key = s.person_key "
        "AND (p.iban_enc IS DISTINCT FROM s.iban_enc OR p.key_id <> s.key_id)", params)
    db.execute(
        "INSERT INTO person_identity (person_key, bsn_enc, iban_enc, key_id, first_load_run_id, updated_at) "
        "SELECT s.person_key, s.bsn_enc, s.iban_enc, s.key_id, CAST(:run AS VARCHAR), CAST(:now AS TIMESTAMPTZ) "
        "FROM stage_sealed_identity s WHERE NOT EXISTS "
        "(SELECT 1 FROM person_identity p WHERE p.person_key = s.person_key)", params)
    db.drop_temp("stage_sealed_identity")


def register() -> None:
    """Kept for older callers: every current-view load now stores the batch's sealed identities
    itself (``load.apply_batch`` calls :func:`store_identities`), so there is nothing to register."""


# ------------------------------------------------------------------------------- reading

@dataclass(frozen=True)
class Identity:
    """One person's clear BSN and IBAN, as read (and audited) by :func:`read_identities`."""

    person_key: str
    bsn: str
    iban: str | None

    def __repr__(self) -> str:  # never print the clear values by accident
        return f"Identity(person_key={self.person_key!r}, bsn=***, iban=***)"


def read_identities(url: str, person_keys: Iterable[str], *, reader: str, purpose: str,
                    keyring: Keyring | None = None, now: datetime | None = None) -> dict[str, Identity]:
    """The clear BSN/IBAN of ``person_keys``, for ``reader`` (who: a user or a process) and
    ``purpose`` (the legal ground, e.g. "UWV verzuimmelding"). One ``person_identity_read`` row per
    requested person_key is written in the same transaction as the SELECT; without it nothing is
    returned. Raises ConfigurationError when reader or purpose is empty or a key is missing."""
    from payroll_etl.warehouse.engines import session
    from payroll_etl.warehouse.records import insert_rows as _insert_rows

    keys = sorted({k for k in person_keys if k})
    if not reader.strip() or not purpose.strip():
        raise ConfigurationError("read_identities needs a reader and a purpose (they are recorded)")
    keyring = keyring or Keyring.load()
    when = now or datetime.now(UTC)
    rows = []
    with session(url) as db:  # one transaction: the audit rows and the read, or neither
        db_user = db.query("SELECT current_user")[0][0] if db.dialect == "postgresql" else None
        for chunk in range(0, len(keys), 500):
            _insert_rows(db, "person_identity_read", [
                {"person_key": k, "reader": reader[:200], "db_user": db_user, "purpose": purpose[:200],
                 "read_at": when} for k in keys[chunk:chunk + 500]])
        for chunk in range(0, len(keys), 500):
            wanted, params = in_list("key", keys[chunk:chunk + 500])
            rows += db.query(f"SELECT person_key, bsn_enc, iban_enc FROM person_identity WHERE person_key IN {wanted}",
                             params)
    log.info("person_identity read: %d of %d person_keys by reader=%s purpose=%s", len(rows), len(keys),
             reader[:80], purpose[:80])
    # bsn_enc is NOT NULL, so the BSN always opens to a value
    return {pk: Identity(pk, keyring.open(pk, "bsn", b) or "", keyring.open(pk, "iban", i)) for pk, b, i in rows}


# ------------------------------------------------------------------------------ rotation

def rotate(url: str, keyring: Keyring | None = None, batch_size: int = 1000) -> int:
    """Re-encrypt every ``person_identity`` row not under the current key. Idempotent; returns the
    number of rows re-encrypted. The old key must still be in the keyring; remove it afterwards."""
    from payroll_etl.warehouse.engines import session

    keyring = keyring or Keyring.load()
    done = 0
    while True:
        with session(url) as db:  # one transaction per batch: an interrupted rotation resumes
            rows = db.query("SELECT person_key, bsn_enc, iban_enc FROM person_identity "
                            f"WHERE key_id <> :key_id ORDER BY person_key LIMIT {int(batch_size)}",
                            {"key_id": keyring.current})
            for pk, bsn_enc, iban_enc in rows:
                bsn, iban = keyring.open(pk, "bsn", bsn_enc), keyring.open(pk, "iban", iban_enc)
                db.execute("UPDATE person_identity SET bsn_enc = :bsn, iban_enc = :iban, key_id = :key_id "
                           "WHERE person_key = :key", {"bsn": keyring.seal(pk, "bsn", bsn),
                                                       "iban": keyring.seal(pk, "iban", iban),
                                                       "key_id": keyring.current, "key": pk})
        done += len(rows)
        if len(rows) < batch_size:
            break
    log.info("person_identity: %d row(s) re-encrypted under key %s", done, keyring.current)
    return done


if __name__ == "__main__":  # python -m payroll_etl.warehouse.identity rotate [url]
    import sys

    from payroll_etl.settings import warehouse_url

    if len(sys.argv) < 2 or sys.argv[1] != "rotate":
        raise SystemExit("usage: python -m payroll_etl.warehouse.identity rotate [warehouse url]")
    logging.basicConfig(level=logging.INFO)
    print(f"re-encrypted {rotate(sys.argv[2] if len(sys.argv) > 2 else warehouse_url())} row(s)")
