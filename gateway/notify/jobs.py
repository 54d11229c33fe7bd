"""The database-scheduled jobs, one supervised task (``notify-jobs``): every
``watch_tick_s`` the device watch ("tracking stopped"), and when their due time in
``scheduled_jobs`` has passed, the billing notices (``billing_every_s``) and retention
(``retention_every_s``, daily). Every decision is claimed in the database, so restarts and a
second gateway process neither repeat nor skip one."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from entitlements import Snapshot
from entitlements.notices import NoticeKind, due_notices
from entitlements.plans import Catalogue

from .. import metrics
from ..config import NotifySettings
from ..pipeline.identify import DeviceDirectory
from ..store import outbox, retention, watch
from .audience import audience_of

log = logging.getLogger(__name__)

#: devices stopped per transaction
WATCH_BATCH = 200
#: sent and dead notifications are kept this long (GET /v1/me/notifications), then removed
#: by the retention job
NOTIFICATIONS_KEPT_DAYS = 90


def billing_kinds(settings: NotifySettings) -> frozenset[NoticeKind]:
    off = {k.strip() for k in settings.billing_off.split(",") if k.strip()}
    unknown = off - {k.value for k in NoticeKind}
    if unknown:
        raise ValueError(f"notify.billing_off: unknown notice kinds {sorted(unknown)}")
    return frozenset(k for k in NoticeKind if k.value not in off)


class Jobs:
    def __init__(
        self,
        url: str,
        settings: NotifySettings,
        snapshot: Callable[[], Snapshot | None],
        directory: DeviceDirectory,
        kick: Callable[[], None],
        catalogue: Catalogue | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.url = url
        self.settings = settings
        self.snapshot = snapshot
        self.directory = directory
        self.kick = kick
        self.kinds = billing_kinds(settings)

    async def run(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.url, autocommit=True, connect_timeout=5
                ) as conn:
                    while True:
                        await self.tick(conn)
                        await asyncio.sleep(self.settings.watch_tick_s)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                log.warning("notification jobs lost the database: %s; retrying", exc)
                await asyncio.sleep(1.0)

    async def tick(self, conn: psycopg.AsyncConnection[Any]) -> None:
        await self.watch(conn)
        s = self.settings
        if await watch.claim_job(conn, "billing_notices", timedelta(seconds=s.billing_every_s)):
            await self._job(conn, "billing_notices", self.billing_notices(conn))
        # retention's first run is a period after the first start (not at once: an operator
        # upgrading sees it on the schedule, and a test's old fixtures are not swept away)
        every = timedelta(seconds=s.retention_every_s)
        if s.retention_every_s > 0 and await watch.claim_job(conn, "retention", every, every):
            await self._job(conn, "retention", self._retention(conn))

    async def _job(self, conn: psycopg.AsyncConnection[Any], name: str, work: Any) -> None:
        try:
            await work
        except (psycopg.OperationalError, psycopg.InterfaceError):
            raise
        except Exception:
            metrics.notifications_jobs.labels(name, "failed").inc()
            log.exception("the %s job failed; it runs again at its next due time", name)
            await watch.finish_job(conn, name, False)
        else:
            metrics.notifications_jobs.labels(name, "ok").inc()
            await watch.finish_job(conn, name, True)

    async def watch(self, conn: psycopg.AsyncConnection[Any]) -> int:
        snapshot = self.snapshot()
        if snapshot is None:
            return 0
        total = 0
        while True:
            now = datetime.now(UTC)
            n = await watch.stop_due(conn, WATCH_BATCH, audience_of(snapshot, self.directory, now))
            total += n
            if n < WATCH_BATCH:
                break
        if total:
            metrics.notifications_jobs.labels("watch", "ok").inc()
            self.kick()
        return total

    async def billing_notices(self, conn: psycopg.AsyncConnection[Any]) -> int:
        """The notices due now (``entitlements.due_notices``) into the outbox, to the payer's
        email, each once by its dedup key."""
        now = datetime.now(UTC)
        subs, payers = await watch.subscriptions_with_payers(conn)
        added = 0
        async with conn.transaction():
            for notice in due_notices(subs, now, catalogue=self.catalogue, kinds=self.kinds):
                payer = payers.get(notice.circle_id)
                if payer is None:
                    continue
                added += await outbox.add_notice(
                    conn,
                    notice.dedup_key,
                    payer,
                    notice.kind.value,
                    notice.circle_id,
                    {
                        "time": notice.due_at.isoformat(),
                        "subscription": notice.subscription_id,
                        "fields": dict(notice.fields),
                    },
                )
        if added:
            self.kick()
        return added

    async def _retention(self, conn: psycopg.AsyncConnection[Any]) -> None:
        await asyncio.to_thread(self.retention)
        removed = await outbox.purge(conn, timedelta(days=NOTIFICATIONS_KEPT_DAYS))
        log.info("old notifications removed", extra={"count": removed})

    def retention(self) -> None:
        with psycopg.connect(self.url) as conn:
            report = retention.run(conn)
        log.info("retention ran", extra={"count": report.positions_deleted})
