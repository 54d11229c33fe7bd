"""Device identity: a protocol's device id (IMEI, phone id) -> a provisioned device.

The directory is the one owner of device identity in the process (the router, the geofence
stage and alerts read it): every device is loaded at start, and a LISTEN on
``trackgw_devices`` (migration 005) re-reads one device or one account's devices when the
database changes them, so a device deactivated or deleted while connected is refused within
moments, without a lookup per frame. A miss is answered from a bounded negative cache that is
valid for one directory version (any change clears it); a miss not cached yet asks the
database only while a token bucket allows (``devices.lookups_per_s``) -- it covers a device
provisioned a moment before its NOTIFY arrived -- and otherwise is "unknown" at once. So a
flood of made-up ids costs one cached answer per id, never a query per frame.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

import psycopg
from psycopg_pool import AsyncConnectionPool

from protocols import registry

from .. import metrics
from ..config import DeviceSettings
from ..store import devices as store
from ..store import notifications

log = logging.getLogger(__name__)

#: protocols spoken by phones (ProtocolSpec.kind); every other protocol is a tag (counts
#: against the tag limit)
PHONE_PROTOCOLS = registry.phone_protocols()

Refusal = Literal["unknown", "inactive", "suspended"]


kind_of = registry.kind_of


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


class DeviceDirectory:
    """Devices by their own id (``resolve``) and by database id (``by_id``)."""

    def __init__(self, pool: AsyncConnectionPool, settings: DeviceSettings, url: str = "") -> None:
        self._pool = pool
        self._settings = settings
        self._url = url
        self._by_key: dict[str, Device] = {}
        self._by_id: dict[int, Device] = {}
        #: ids known not to exist in this ``version`` (bounded, least recently used dropped)
        self._unknown: OrderedDict[str, None] = OrderedDict()
        self._tokens = float(settings.lookups_burst)
        self._tokens_at = time.monotonic()
        #: bumped on every change learnt from the database; negative answers are per version
        self.version = 0
        self.listening = asyncio.Event()

    def __len__(self) -> int:
        return len(self._by_key)

    async def load_all(self) -> None:
        async with self._pool.connection() as conn:
            rows = await store.all_devices(conn)
        self._by_key = {}
        self._by_id = {}
        for row in rows:
            self._put(Device(*row))
        self._changed()

    def _put(self, device: Device) -> None:
        old = self._by_id.get(device.id)
        if old is not None and old.unique_id != device.unique_id:
            self._by_key.pop(old.unique_id, None)
        self._by_key[device.unique_id] = device
        self._by_id[device.id] = device

    def _drop(self, unique_id: str) -> None:
        device = self._by_key.pop(unique_id, None)
        if device is not None:
            self._by_id.pop(device.id, None)

    def _changed(self) -> None:
        self.version += 1
        self._unknown.clear()

    def forget(self, unique_id: str | None = None) -> None:
        """Drop cached negative answers (all of them, or one device's cached identity)."""
        if unique_id is not None:
            self._drop(unique_id)
        self._changed()

    def cached(self, unique_id: str) -> Device | None:
        return self._by_key.get(unique_id)

    def by_id(self, device_id: int) -> Device | None:
        return self._by_id.get(device_id)

    def known(self, unique_id: str) -> Device | None:
        """The device if it is loaded and accepted now (no database lookup, nothing counted):
        who a keep-alive comes from."""
        device = self._by_key.get(unique_id)
        return device if device is not None and device.refusal is None else None

    async def resolve(self, unique_id: str, protocol: str) -> tuple[Device | None, Refusal | None]:
        """The device and why it is refused (None = accepted)."""
        device = self._by_key.get(unique_id)
        if device is None:
            device = await self._lookup(unique_id, protocol)
            if device is None:
                return None, "unknown"
        return device, device.refusal

    def _may_look_up(self) -> bool:
        now = time.monotonic()
        s = self._settings
        self._tokens = min(
            float(s.lookups_burst), self._tokens + (now - self._tokens_at) * s.lookups_per_s
        )
        self._tokens_at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    async def _lookup(self, unique_id: str, protocol: str) -> Device | None:
        unknown = self._unknown
        if unique_id in unknown:
            unknown.move_to_end(unique_id)
            metrics.device_lookups.labels("negative_cache").inc()
            return None
        version = self.version
        row = None
        if self._may_look_up():
            metrics.device_lookups.labels("database").inc()
            async with self._pool.connection() as conn:
                row = await store.device(conn, unique_id)
                if row is None and self._settings.auto_register:
                    row = await store.register(
                        conn, unique_id, protocol, kind_of(protocol), self._settings.holding_account
                    )
                    log.info(
                        "registered unknown device into the holding account",
                        extra={"device_key": unique_id, "protocol": protocol},
                    )
        else:
            metrics.device_lookups.labels("rate_limited").inc()
        if row is None:
            if self.version == version:  # not answered by a change that arrived meanwhile
                unknown[unique_id] = None
                if len(unknown) > self._settings.negative_cache_max:
                    unknown.popitem(last=False)
            return self._by_key.get(unique_id)
        device = Device(*row)
        self._put(device)
        return device

    # -- learning changes while running --------------------------------------------------------
    async def apply_change(self, payload: str) -> None:
        """One NOTIFY payload: re-read that device or that account's devices (on a pool
        connection: a query on the listening connection would swallow notifications that
        arrive meanwhile)."""
        what, _, key = payload.partition(":")
        if what == "device":
            async with self._pool.connection() as conn:
                row = await store.device(conn, key)
            if row is None:
                self._drop(key)
            else:
                self._put(Device(*row))
        elif what == "account":
            async with self._pool.connection() as conn:
                rows = await store.account_devices(conn, key)
            seen = set()
            for row in rows:
                self._put(Device(*row))
                seen.add(row[1])
            for device in [d for d in self._by_key.values() if d.account_id == key]:
                if device.unique_id not in seen:
                    self._drop(device.unique_id)
        else:
            return
        metrics.directory_changes.inc()
        self._changed()

    async def run(self) -> None:
        """LISTEN for changes; after a (re)connect reload everything (changes may have been
        missed). Survives lost connections; other errors end the task (supervised)."""
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True, connect_timeout=5
                ) as conn:
                    await conn.execute(f"listen {store.CHANNEL}")
                    await self.load_all()
                    self.listening.set()
                    while True:
                        # collect the burst, then look up on a pool connection
                        for payload in dict.fromkeys(await notifications.burst(conn)):
                            await self.apply_change(payload)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                self.listening.clear()
                log.warning("device directory lost the database: %s; retrying", exc)
                await asyncio.sleep(1.0)
