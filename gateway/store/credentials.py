"""Credentials at the trust boundary: phones' HTTP secrets and members' broker clients (SQL)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

#: the protocols whose devices authenticate on HTTP with a device secret
HTTP_PROTOCOLS = ("owntracks", "overland", "osmand")
#: the protocols whose devices publish over MQTT (their topics go into a member's role)
MQTT_PROTOCOLS = ("owntracks", "msgpack_phone")
#: shortest secret accepted when an operator chooses one (generated ones are 43 characters)
MIN_SECRET_LENGTH = 16


def new_secret() -> str:
    """32 random bytes, URL-safe (it may go into an OsmAnd URL)."""
    return secrets.token_urlsafe(32)


def secret_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def set_device_secret(
    conn: psycopg.Connection[Any], unique_id: str, secret: str | None = None
) -> str:
    """Give the device a new HTTP secret (replacing any old one); returns it (shown once)."""
    if secret is None:
        secret = new_secret()
    elif len(secret) < MIN_SECRET_LENGTH:
        raise ValueError(f"a device secret has at least {MIN_SECRET_LENGTH} characters")
    row = conn.execute(
        "select id, protocol from devices where unique_id = %s", (unique_id,)
    ).fetchone()
    if row is None:
        raise LookupError(f"no device {unique_id!r}")
    if row[1] not in HTTP_PROTOCOLS:
        raise ValueError(f"{row[1]} devices do not authenticate with a secret")
    conn.execute(_UPSERT_SECRET, (row[0], secret_hash(secret)))
    return secret


_UPSERT_SECRET = (
    "insert into device_secrets (device_id, secret_sha256) values (%s, %s)"
    " on conflict (device_id) do update set secret_sha256 = excluded.secret_sha256,"
    " created_at = now()"
)


async def give_device_secret(conn: psycopg.AsyncConnection[Any], device_id: int) -> str:
    """A new random HTTP secret for the (phone) device ``device_id``, replacing any old one;
    returned once, stored only as its hash."""
    secret = new_secret()
    await conn.execute(_UPSERT_SECRET, (device_id, secret_hash(secret)))
    return secret


async def device_secret_matches(
    conn: psycopg.AsyncConnection[Any], protocol: str, unique_id: str, secret: str
) -> bool:
    """Whether ``secret`` is the HTTP secret of the active ``protocol`` device ``unique_id``."""
    cur = await conn.execute(
        "select s.secret_sha256 from device_secrets s join devices d on d.id = s.device_id"
        " where d.unique_id = %s and d.protocol = %s and d.active",
        (unique_id, protocol),
    )
    row = await cur.fetchone()
    return row is not None and hmac.compare_digest(bytes(row[0]), secret_hash(secret))


async def device_for_secret(
    conn: psycopg.AsyncConnection[Any], protocol: str, secret: str
) -> str | None:
    """The unique id of the active ``protocol`` device whose secret this is (Overland's bearer
    token names its device)."""
    cur = await conn.execute(
        "select d.unique_id from device_secrets s join devices d on d.id = s.device_id"
        " where s.secret_sha256 = %s and d.protocol = %s and d.active",
        (secret_hash(secret), protocol),
    )
    row = await cur.fetchone()
    return None if row is None else str(row[0])


@dataclass(frozen=True, slots=True)
class MemberAccessRows:
    """What the broker roles of members with a broker client are built from."""

    clients: Sequence[tuple[str, str, str]]  #: (account, username, account status)
    devices: Sequence[tuple[str, str, str]]  #: (account, protocol, unique id), active only
    memberships: Sequence[tuple[str, str]]  #: (account, circle)


async def add_member_client(
    conn: psycopg.AsyncConnection[Any], account: str, username: str
) -> str | None:
    """Record the member's broker client; the account's status (None: no such account)."""
    cur = await conn.execute("select status from accounts where id = %s", (account,))
    row = await cur.fetchone()
    if row is None:
        return None
    await conn.execute(
        "insert into member_mqtt_clients (account_id, username) values (%s, %s)"
        " on conflict (account_id) do nothing",
        (account, username),
    )
    return str(row[0])


async def member_access_rows(
    conn: psycopg.AsyncConnection[Any], account: str | None = None
) -> MemberAccessRows:
    """The rows for every member with a broker client, or only ``account``'s."""
    where, params = ("where m.account_id = %s", (account,)) if account else ("", ())
    cur = await conn.execute(
        "select m.account_id, m.username, a.status from member_mqtt_clients m"
        f" join accounts a on a.id = m.account_id {where}",
        params,
    )
    clients = [(str(a), str(u), str(s)) for a, u, s in await cur.fetchall()]
    accounts = [c[0] for c in clients]
    cur = await conn.execute(
        "select account_id, protocol, unique_id from devices"
        " where active and account_id = any(%s) and protocol = any(%s) order by id",
        (accounts, list(MQTT_PROTOCOLS)),
    )
    devices = [(str(a), str(p), str(u)) for a, p, u in await cur.fetchall()]
    cur = await conn.execute(
        "select account_id, circle_id from circle_members where account_id = any(%s)",
        (accounts,),
    )
    memberships = [(str(a), str(c)) for a, c in await cur.fetchall()]
    return MemberAccessRows(clients, devices, memberships)


async def forget_member_client(conn: psycopg.AsyncConnection[Any], account: str) -> None:
    await conn.execute("delete from member_mqtt_clients where account_id = %s", (account,))
