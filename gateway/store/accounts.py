"""Member accounts, bearer tokens, circle invitations and deletion requests (async psycopg 3).

Secrets (tokens, invite codes, deletion codes) are random and stored only as their SHA-256:
a copy of the database signs nobody in. Passwords are hashed by the caller (argon2); this
module only moves rows.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from . import ids

AsyncConn = psycopg.AsyncConnection[Any]

#: what a member token looks like: a prefix (so leaked tokens are recognisable) and 32 bytes
TOKEN_PREFIX = "tgw_"


def sha256(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def new_secret(prefix: str = "", nbytes: int = 32) -> str:
    return prefix + secrets.token_urlsafe(nbytes)


class EmailTaken(ValueError):
    """Another account already has this email (whatever its case)."""


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    email: str | None
    name: str | None
    status: str
    created_at: datetime
    password_hash: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "status": self.status,
            "created_at": self.created_at,
        }


_ACCOUNT = "select id, email, name, status, created_at, password_hash from accounts"


async def create_account(conn: AsyncConn, email: str, password_hash: str, name: str) -> Account:
    account_id = ids.new_id("acc")
    try:
        async with conn.transaction():
            await conn.execute(
                "insert into accounts (id, name, email, password_hash) values (%s, %s, %s, %s)",
                (account_id, name, email, password_hash),
            )
    except psycopg.errors.UniqueViolation:
        raise EmailTaken(email) from None
    found = await get_account(conn, account_id)
    assert found is not None
    return found


async def get_account(conn: AsyncConn, account_id: str) -> Account | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_ACCOUNT + " where id = %s", (account_id,))
        row = await cur.fetchone()
    return None if row is None else Account(**row)


async def account_by_email(conn: AsyncConn, email: str) -> Account | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            _ACCOUNT + " where lower(email) = lower(%s) and email is not null", (email,)
        )
        row = await cur.fetchone()
    return None if row is None else Account(**row)


async def set_password_hash(conn: AsyncConn, account_id: str, password_hash: str) -> None:
    await conn.execute(
        "update accounts set password_hash = %s where id = %s", (password_hash, account_id)
    )


# -- tokens ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Token:
    id: int
    account_id: str
    name: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "last_used_at": self.last_used_at,
        }


_TOKEN = "select id, account_id, name, created_at, expires_at, last_used_at from api_tokens"


async def create_token(
    conn: AsyncConn, account_id: str, name: str, expires_at: datetime
) -> tuple[str, Token]:
    """A new bearer token (returned once, in clear) and its record."""
    secret = new_secret(TOKEN_PREFIX)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "insert into api_tokens (account_id, name, token_sha256, expires_at)"
            " values (%s, %s, %s, %s)"
            " returning id, account_id, name, created_at, expires_at, last_used_at",
            (account_id, name, sha256(secret), expires_at),
        )
        row = await cur.fetchone()
    assert row is not None
    return secret, Token(**row)


@dataclass(frozen=True, slots=True)
class Bearer:
    """Who a valid member token speaks for."""

    token_id: int
    account_id: str
    status: str


#: ``last_used_at`` is written at most this often per token (not on every request)
LAST_USED_RESOLUTION = timedelta(minutes=1)


async def token_owner(conn: AsyncConn, secret: str, now: datetime) -> Bearer | None:
    """The account of an unexpired token (None for anything else); marks the token used."""
    row = await (
        await conn.execute(
            "select t.id, t.account_id, a.status, t.last_used_at from api_tokens t"
            " join accounts a on a.id = t.account_id"
            " where t.token_sha256 = %s and t.expires_at > %s",
            (sha256(secret), now),
        )
    ).fetchone()
    if row is None:
        return None
    if row[3] is None or now - row[3] > LAST_USED_RESOLUTION:
        await conn.execute("update api_tokens set last_used_at = %s where id = %s", (now, row[0]))
    return Bearer(int(row[0]), str(row[1]), str(row[2]))


async def list_tokens(conn: AsyncConn, account_id: str, now: datetime) -> list[Token]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            _TOKEN + " where account_id = %s and expires_at > %s order by id", (account_id, now)
        )
        return [Token(**r) for r in await cur.fetchall()]


async def delete_token(conn: AsyncConn, account_id: str, token_id: int) -> bool:
    cur = await conn.execute(
        "delete from api_tokens where id = %s and account_id = %s", (token_id, account_id)
    )
    return cur.rowcount > 0


async def delete_all_tokens(conn: AsyncConn, account_id: str) -> int:
    cur = await conn.execute("delete from api_tokens where account_id = %s", (account_id,))
    return cur.rowcount


# -- invitations -----------------------------------------------------------------------


async def create_invite(
    conn: AsyncConn, circle_id: str, created_by: str, expires_at: datetime
) -> str:
    code = new_secret(nbytes=12)
    await conn.execute(
        "insert into circle_invites (code_sha256, circle_id, created_by, expires_at)"
        " values (%s, %s, %s, %s)",
        (sha256(code), circle_id, created_by, expires_at),
    )
    return code


class InviteRefused(LookupError):
    """No such invite, or used, or expired (one answer: a code reveals nothing)."""


async def redeem_invite(conn: AsyncConn, code: str, account_id: str, now: datetime) -> str:
    """Use the invite (once) and add ``account_id`` to its circle; the circle id."""
    async with conn.transaction():
        row = await (
            await conn.execute(
                "update circle_invites set used_at = %s, used_by = %s"
                " where code_sha256 = %s and used_at is null and expires_at > %s"
                " returning circle_id",
                (now, account_id, sha256(code), now),
            )
        ).fetchone()
        if row is None:
            raise InviteRefused(code)
        circle_id = str(row[0])
        await conn.execute(
            "insert into circle_members (circle_id, account_id) values (%s, %s)"
            " on conflict do nothing",
            (circle_id, account_id),
        )
    return circle_id


# -- deletion requests -----------------------------------------------------------------


async def request_deletion(conn: AsyncConn, account_id: str, expires_at: datetime) -> str:
    """A new confirmation code for deleting the account (replacing any earlier one)."""
    code = f"{secrets.randbelow(10**8):08d}"
    await conn.execute(
        "insert into deletion_requests (account_id, code_sha256, expires_at)"
        " values (%s, %s, %s) on conflict (account_id) do update"
        " set code_sha256 = excluded.code_sha256, expires_at = excluded.expires_at,"
        " created_at = now()",
        (account_id, sha256(code), expires_at),
    )
    return code


#: wrong codes tolerated before a deletion request is void
MAX_DELETION_ATTEMPTS = 5


class DeletionRefused(LookupError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  #: "none" | "wrong" | "expired"


async def take_deletion_request(conn: AsyncConn, account_id: str, code: str, now: datetime) -> None:
    """Consume the account's pending request if ``code`` is its code and it has not expired."""
    row = await (
        await conn.execute(
            "select code_sha256, expires_at from deletion_requests where account_id = %s",
            (account_id,),
        )
    ).fetchone()
    if row is None:
        raise DeletionRefused("none")
    if not secrets.compare_digest(bytes(row[0]), sha256(code)):
        # a guessed code costs the request after MAX_DELETION_ATTEMPTS tries
        # the caller commits this although it refuses the request
        await conn.execute(
            "update deletion_requests set attempts = attempts + 1 where account_id = %s",
            (account_id,),
        )
        await conn.execute(
            "delete from deletion_requests where account_id = %s and attempts >= %s",
            (account_id, MAX_DELETION_ATTEMPTS),
        )
        raise DeletionRefused("wrong")
    if row[1] <= now:
        raise DeletionRefused("expired")
    await conn.execute("delete from deletion_requests where account_id = %s", (account_id,))
