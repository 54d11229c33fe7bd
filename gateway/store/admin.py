"""Provisioning and account operations (used by the CLI and the admin API), synchronous."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from protocols.registry import kind_of

from .ids import check_id, check_unique_id


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    id: int
    unique_id: str
    protocol: str
    kind: str
    account: str
    name: str | None
    active: bool
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


_DEVICE_SELECT = """select id, unique_id, protocol, kind, account_id as account, name, active,
                          created_at from devices"""


def ensure_account(conn: psycopg.Connection[Any], account: str, name: str | None = None) -> bool:
    """Create the account if missing; True if it was created. A deleted account stays deleted."""
    check_id(account, "account")
    row = conn.execute(
        "insert into accounts (id, name) values (%s, %s) on conflict (id) do nothing returning id",
        (account, name),
    ).fetchone()
    return row is not None


def add_device(
    conn: psycopg.Connection[Any],
    protocol: str,
    unique_id: str,
    account: str,
    name: str | None = None,
) -> DeviceRecord:
    check_unique_id(protocol, unique_id)
    with conn.transaction():
        ensure_account(conn, account)
        status = conn.execute("select status from accounts where id = %s", (account,)).fetchone()
        if status and status[0] == "deleted":
            raise ValueError(f"account {account!r} is deleted")
        row = conn.execute(
            "insert into devices (account_id, unique_id, protocol, kind, name)"
            " values (%s, %s, %s, %s, %s) on conflict (unique_id) do nothing returning id",
            (account, unique_id, protocol, kind_of(protocol), name),
        ).fetchone()
        if row is None:
            existing = get_device(conn, unique_id)
            assert existing is not None
            if existing.account != account or existing.protocol != protocol:
                raise ValueError(
                    f"device {unique_id!r} is already provisioned ({existing.protocol}, account"
                    f" {existing.account!r})"
                )
            return existing
    device = get_device(conn, unique_id)
    assert device is not None
    return device


def get_device(conn: psycopg.Connection[Any], unique_id: str) -> DeviceRecord | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_DEVICE_SELECT + " where unique_id = %s", (unique_id,)).fetchone()
    return DeviceRecord(**row) if row else None


def list_devices(conn: psycopg.Connection[Any], account: str | None = None) -> list[DeviceRecord]:
    with conn.cursor(row_factory=dict_row) as cur:
        if account:
            rows = cur.execute(_DEVICE_SELECT + " where account_id = %s order by id", (account,))
        else:
            rows = cur.execute(_DEVICE_SELECT + " order by id")
        return [DeviceRecord(**r) for r in rows.fetchall()]


def delete_account(conn: psycopg.Connection[Any], account: str) -> dict[str, int]:
    """Permanently delete the account's location history and events, latest positions,
    geofence state and the places of circles it owns; deactivate its devices; remove its
    circle memberships (freeing their plan slots) and its member tokens. One transaction.

    The terms: deleting an account deletes its location history and deactivates its devices;
    it does not cancel a paid subscription (subscriptions are left as they are).
    """
    with conn.transaction():
        row = conn.execute(
            "select status from accounts where id = %s for update", (account,)
        ).fetchone()
        if row is None:
            raise LookupError(f"no account {account!r}")
        ids = [
            r[0]
            for r in conn.execute(
                "select id from devices where account_id = %s", (account,)
            ).fetchall()
        ]
        counts: dict[str, int] = {}

        def run(key: str, sql: str, params: tuple[Any, ...]) -> None:
            counts[key] = conn.execute(sql, params).rowcount

        run("positions", "delete from positions where device_id = any(%s)", (ids,))
        # the notifications about its events (they hold positions), those it received, its
        # rules and its devices' watch (migration 008)
        conn.execute(
            "delete from notifications where recipient = %s or event_id in"
            " (select id from events where device_id = any(%s))",
            (account, ids),
        )
        conn.execute("delete from notification_rules where account_id = %s", (account,))
        conn.execute("delete from device_watch where device_id = any(%s)", (ids,))
        run("events", "delete from events where device_id = any(%s)", (ids,))
        run("latest_positions", "delete from latest_positions where device_id = any(%s)", (ids,))
        run("geofence_state", "delete from geofence_state where device_id = any(%s)", (ids,))
        run(
            "places",
            "delete from places where circle_id in"
            " (select id from circles where owner_account_id = %s)",
            (account,),
        )
        run(
            "devices_deactivated",
            "update devices set active = false where account_id = %s and active",
            (account,),
        )
        run("memberships", "delete from circle_members where account_id = %s", (account,))
        run("tokens_revoked", "delete from api_tokens where account_id = %s", (account,))
        conn.execute("delete from deletion_requests where account_id = %s", (account,))
        # the email is freed (a new account may use it) and the password forgotten
        conn.execute(
            "update accounts set status = 'deleted', deleted_at = now(), email = null,"
            " password_hash = null where id = %s",
            (account,),
        )
        conn.execute("select pg_notify('trackgw_devices', %s)", (account,))
    return counts


def set_sign_in(
    conn: psycopg.Connection[Any], account: str, email: str, password_hash: str
) -> None:
    """Give ``account`` an email and password to sign in with (the demo member)."""
    conn.execute(
        "update accounts set email = %s, password_hash = %s where id = %s",
        (email, password_hash, account),
    )


def add_circle(
    conn: psycopg.Connection[Any], circle: str, owner: str, name: str | None = None
) -> bool:
    """Create a circle owned by ``owner`` (who becomes its first member); True if created."""
    check_id(circle, "circle")
    with conn.transaction():
        ensure_account(conn, owner)
        row = conn.execute(
            "insert into circles (id, owner_account_id, name) values (%s, %s, %s)"
            " on conflict (id) do nothing returning id",
            (circle, owner, name),
        ).fetchone()
        if row is None:
            existing = conn.execute(
                "select owner_account_id from circles where id = %s", (circle,)
            ).fetchone()
            if existing and existing[0] != owner:
                raise ValueError(f"circle {circle!r} exists with owner {existing[0]!r}")
            return False
        conn.execute(
            "insert into circle_members (circle_id, account_id) values (%s, %s)"
            " on conflict do nothing",
            (circle, owner),
        )
    return True


def join_circle(conn: psycopg.Connection[Any], circle: str, account: str) -> int:
    """Add ``account`` to ``circle``; returns its 1-based place in join order."""
    with conn.transaction():
        if conn.execute("select 1 from circles where id = %s", (circle,)).fetchone() is None:
            raise LookupError(f"no circle {circle!r}")
        ensure_account(conn, account)
        conn.execute(
            "insert into circle_members (circle_id, account_id) values (%s, %s)"
            " on conflict do nothing",
            (circle, account),
        )
        row = conn.execute(
            "select count(*) from circle_members where circle_id = %s and join_seq <="
            " (select join_seq from circle_members where circle_id = %s and account_id = %s)",
            (circle, circle, account),
        ).fetchone()
    assert row is not None
    return int(row[0])
