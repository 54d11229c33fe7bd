"""Device identity: a protocol's device id (IMEI, phone id) -> a provisioned device."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Literal

from psycopg_pool import AsyncConnectionPool

from ..config import DeviceSettings

log = logging.getLogger(__name__)

#: protocols spoken by phones; every other protocol is a tag (counts against the tag limit)
PHONE_PROTOCOLS = frozenset({"owntracks", "osmand", "overland", "msgpack_phone"})

Refusal = Literal["unknown", "inactive", "suspended"]


def kind_of(protocol: str) -> str:
    return "phone" if protocol in PHONE_PROTOCOLS else "tag"


@dataclass(frozen=True, slots=True)
class Device:
    id: int
    unique_id: str
    account_id: str
    kind: str
    protocol: str
    active: bool
    account_status: str

    @property
    def refusal(self) -> Refusal | None:
        if not self.active or self.account_status == "deleted":
            return "inactive"
        if self.account_status == "suspended":
            return "suspended"
        return None


_SELECT = """
    select d.id, d.unique_id, d.account_id, d.kind, d.protocol, d.active, a.status
    from devices d join accounts a on a.id = d.account_id
"""


class DeviceDirectory:
    """Cached lookups of devices by their own id; a miss asks the database (and remembers a
    negative answer for ``negative_ttl_s``, so an unknown device cannot hammer it)."""

    def __init__(
        self, pool: AsyncConnectionPool, settings: DeviceSettings, negative_ttl_s: float = 30.0
    ) -> None:
        self._pool = pool
        self._settings = settings
        self._by_key: dict[str, Device] = {}
        self._unknown: dict[str, float] = {}
        self._negative_ttl = negative_ttl_s

    def __len__(self) -> int:
        return len(self._by_key)

    async def load_all(self) -> None:
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(_SELECT)).fetchall()
        self._by_key = {row[1]: Device(*row) for row in rows}
        self._unknown.clear()

    def forget(self, unique_id: str | None = None) -> None:
        """Drop cached answers (one device, or all) after a change in the database."""
        if unique_id is None:
            self._unknown.clear()
            return
        self._by_key.pop(unique_id, None)
        self._unknown.pop(unique_id, None)

    def cached(self, unique_id: str) -> Device | None:
        return self._by_key.get(unique_id)

    async def resolve(self, unique_id: str, protocol: str) -> tuple[Device | None, Refusal | None]:
        """The device and why it is refused (None = accepted)."""
        device = self._by_key.get(unique_id)
        if device is None:
            device = await self._lookup(unique_id, protocol)
            if device is None:
                return None, "unknown"
        return device, device.refusal

    async def _lookup(self, unique_id: str, protocol: str) -> Device | None:
        now = time.monotonic()
        until = self._unknown.get(unique_id)
        if until is not None and until > now:
            return None
        async with self._pool.connection() as conn:
            row = await (
                await conn.execute(_SELECT + " where d.unique_id = %s", (unique_id,))
            ).fetchone()
            if row is None and self._settings.auto_register:
                row = await self._register(conn, unique_id, protocol)
        if row is None:
            if len(self._unknown) > 100_000:
                self._unknown = {k: t for k, t in self._unknown.items() if t > now}
            self._unknown[unique_id] = now + self._negative_ttl
            return None
        device = Device(*row)
        self._by_key[unique_id] = device
        return device

    async def _register(
        self, conn: object, unique_id: str, protocol: str
    ) -> tuple[object, ...] | None:
        from psycopg import AsyncConnection

        assert isinstance(conn, AsyncConnection)
        account = self._settings.holding_account
        async with conn.transaction():
            await conn.execute(
                "insert into accounts (id, name) values (%s, 'devices seen but not provisioned')"
                " on conflict do nothing",
                (account,),
            )
            await conn.execute(
                "insert into devices (account_id, unique_id, protocol, kind)"
                " values (%s, %s, %s, %s) on conflict (unique_id) do nothing",
                (account, unique_id, protocol, kind_of(protocol)),
            )
        log.info(
            "registered unknown device into the holding account",
            extra={"device_key": unique_id, "protocol": protocol},
        )
        return await (
            await conn.execute(_SELECT + " where d.unique_id = %s", (unique_id,))
        ).fetchone()
