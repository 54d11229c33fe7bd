"""Ordered SQL migrations, applied once each and recorded in ``schema_migrations``."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
#: One key for pg_advisory_xact_lock so two gateways migrating at once take turns.
_LOCK_KEY = 0x74726B67


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()[:16]


def available() -> list[Migration]:
    """The migrations shipped in gateway/store/migrations, in order."""
    found = []
    for entry in resources.files("gateway.store.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions: {versions}")
    return found


def migrate(url: str) -> list[Migration]:
    """Apply what is not applied yet; returns the migrations applied now."""
    applied_now: list[Migration] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            """create table if not exists schema_migrations (
                   version integer primary key,
                   name text not null,
                   checksum text not null,
                   applied_at timestamptz not null default now())"""
        )
        for migration in available():
            with conn.transaction():
                conn.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
                row = conn.execute(
                    "select checksum from schema_migrations where version = %s",
                    (migration.version,),
                ).fetchone()
                if row is not None:
                    if row[0] != migration.checksum:
                        log.warning(
                            "migration %03d_%s changed after it was applied",
                            migration.version,
                            migration.name,
                        )
                    continue
                conn.execute(migration.sql.encode())
                conn.execute(
                    "insert into schema_migrations (version, name, checksum) values (%s, %s, %s)",
                    (migration.version, migration.name, migration.checksum),
                )
                applied_now.append(migration)
                log.info("applied migration %03d_%s", migration.version, migration.name)
    return applied_now
