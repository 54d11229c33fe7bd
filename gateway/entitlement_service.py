"""The gateway's current entitlement snapshot: built from the database, swapped atomically.

A dedicated connection LISTENs on ``trackgw_entitlements`` (triggers fire it on every change to
subscriptions, circles, members, places, devices, accounts); each notification (coalesced over
``debounce_s``) rebuilds the whole snapshot and swaps the reference, so readers see either the
old or the new one, never half of each. A periodic full refresh is the safety net for a lost
connection. Decisions compare the snapshot's validity bounds with the current time, so a period
or grace end takes effect at its instant even between refreshes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg

from entitlements import IngestDecision, Snapshot

from . import metrics
from .pipeline.identify import Device
from .store.subscriptions import load_snapshot

log = logging.getLogger(__name__)

CHANNEL = "trackgw_entitlements"

#: what the ingestion gate tells the router (metrics label and log reason)
REFUSALS = {
    IngestDecision.ACCOUNT_SUSPENDED: "suspended",
    IngestDecision.ACCOUNT_DELETED: "inactive",
    IngestDecision.OVER_TAG_LIMIT: "over_tag_limit",
    IngestDecision.UNKNOWN_ACCOUNT: "unknown",
    IngestDecision.UNKNOWN_DEVICE: "unknown",
}


class EntitlementService:
    def __init__(
        self,
        url: str,
        refresh_s: float = 60.0,
        debounce_s: float = 0.05,
        on_reload: Sequence[Callable[[Snapshot], Awaitable[None]]] = (),
    ) -> None:
        self.url = url
        self.refresh_s = refresh_s
        self.debounce_s = debounce_s
        self._snapshot: Snapshot | None = None
        self._version = 0
        self._built_mono = 0.0
        self._inflight: asyncio.Task[Snapshot] | None = None
        self._inflight_started = 0.0
        #: called with each new snapshot after it is swapped in (e.g. reload places)
        self.on_reload: tuple[Callable[[Snapshot], Awaitable[None]], ...] = tuple(on_reload)
        #: devices a reload was asked for because this snapshot did not know them: at most
        #: one reload per device per snapshot version (a flood cannot rebuild per frame)
        self._asked: set[str] = set()
        self._asked_version = -1
        #: set while LISTENing (after the catch-up reload that follows each connect)
        self.listening = asyncio.Event()
        #: set (and replaced) at each swap: what ``wait_newer`` waits on
        self._swapped = asyncio.Event()
        metrics.entitlement_snapshot_age.set_function(self.age_s)

    @property
    def snapshot(self) -> Snapshot:
        if self._snapshot is None:
            raise RuntimeError("entitlements not loaded yet")
        return self._snapshot

    @property
    def version(self) -> int:
        """The version of the snapshot in use (0 before the first load)."""
        return self._version

    async def wait_newer(self, version: int, timeout_s: float) -> int:
        """Wait until a snapshot newer than ``version`` is in use, or ``timeout_s`` passed;
        the version in use then. For parts that follow every change (the broker's ACLs,
        live readers) without being hooks of the reload."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while self._version <= version:
                    await self._swapped.wait()
        return self._version

    def current(self) -> Snapshot | None:
        """The snapshot in use, or None before the first load."""
        return self._snapshot

    def age_s(self) -> float:
        return 0.0 if self._snapshot is None else time.monotonic() - self._built_mono

    async def reload(self) -> Snapshot:
        """A snapshot built by a reload that started after this call (concurrent callers share
        one reload), swapped in before it returns."""
        asked = time.monotonic()
        while True:
            task = self._inflight
            if task is None or task.done():
                self._inflight_started = time.monotonic()
                task = self._inflight = asyncio.create_task(self._build())
            if self._inflight_started >= asked:
                return await asyncio.shield(task)
            with contextlib.suppress(Exception):  # an older reload: let it finish, then ours
                await asyncio.shield(task)

    async def _build(self) -> Snapshot:
        started = time.monotonic()
        async with await psycopg.AsyncConnection.connect(self.url, connect_timeout=5) as conn:
            snapshot = await load_snapshot(conn, self._version + 1, datetime.now(UTC))
        metrics.entitlement_rebuilds.inc()
        self._version += 1
        self._snapshot = snapshot  # the swap: one reference assignment
        self._built_mono = started
        swapped, self._swapped = self._swapped, asyncio.Event()
        swapped.set()
        for hook in self.on_reload:
            try:
                await hook(snapshot)
            except Exception:
                log.exception("an entitlement reload hook failed")
        return snapshot

    async def reload_soon(self, within: float = 2.0) -> None:
        """Reload now (shared with any reload already asked for), waiting at most ``within``."""
        with contextlib.suppress(TimeoutError, psycopg.Error):
            await asyncio.wait_for(self.reload(), within)

    async def run(self) -> None:
        """LISTEN and rebuild on change; also every ``refresh_s``. Survives lost connections."""
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.url, autocommit=True, connect_timeout=5
                ) as conn:
                    await conn.execute(f"listen {CHANNEL}")
                    await self.reload()  # catch up with what changed while not listening
                    self.listening.set()
                    await self._listen(conn)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                self.listening.clear()
                log.warning("entitlement listener lost the database: %s; retrying", exc)
                await asyncio.sleep(1.0)

    async def _listen(self, conn: psycopg.AsyncConnection[Any]) -> None:
        last = time.monotonic()
        while True:
            got = False
            async for _note in conn.notifies(timeout=0.25):
                got = True
                break
            if got:
                await asyncio.sleep(self.debounce_s)  # let the rest of a change arrive
                async for _note in conn.notifies(timeout=0.0):
                    pass
            if got or time.monotonic() - last > self.refresh_s:
                await self.reload()
                last = time.monotonic()

    async def gate(self, device: Device) -> str | None:
        """The ingestion decision for a provisioned, active device (None = accept)."""
        key = str(device.id)
        snapshot = self.snapshot
        decision = snapshot.ingest_decision(key, datetime.now(UTC))
        if decision in (IngestDecision.UNKNOWN_DEVICE, IngestDecision.UNKNOWN_ACCOUNT):
            # provisioned after the snapshot was built: its NOTIFY is on the way. Ask for a
            # reload once per device and snapshot version, never once per frame.
            if self._asked_version != snapshot.version:
                self._asked = set()
                self._asked_version = snapshot.version
            if key not in self._asked and len(self._asked) < 10_000:
                self._asked.add(key)
                await self.reload_soon()
                decision = self.snapshot.ingest_decision(key, datetime.now(UTC))
        return None if decision is IngestDecision.ALLOWED else REFUSALS[decision]
