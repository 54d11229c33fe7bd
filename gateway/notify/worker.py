"""The outbox's delivery worker (a supervised task, ``notify-delivery``): claims due rows
(``store.outbox.claim``: ``FOR UPDATE SKIP LOCKED``, a lease), sends them, records the outcome.

* MQTT: the rows of one notification claimed together become one ``Alert`` whose recipients
  are their members, handed to ``pipeline.deliver.send_alert`` (the one way member alerts
  leave the gateway: the member topics, the operators' circle topic, the live stream) and
  confirmed by the broker (QoS 1) before the rows are marked sent.
* Email: one message per row over SMTP (``gateway.email``), plain text and HTML; the
  Message-ID is the row's, so a resend after a crash is recognisably the same message.
* A failure puts the row back with exponential backoff (``retry_initial_s`` doubling up to
  ``retry_max_s``); after ``max_attempts`` claims it is ``dead`` (kept, counted, listed).
  When the SMTP server (or the broker) is unreachable, the claim's other rows of that channel
  are not tried this time: they are retried with their backoff.

A process that dies between claiming and recording leaves its rows leased: another process
(or itself, restarted) claims them once ``lease_s`` has passed. The guarantee is therefore
once per (notification, recipient, channel) except for the window between the broker or SMTP
server accepting and the row being marked, where a crash gives one repeat (at-least-once
there; nothing is lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from .. import email, metrics
from ..alerts import Alert, AlertNotSent, AlertPublisher
from ..config import NotifySettings, SmtpSettings
from ..live.hub import LiveHub
from ..pipeline.deliver import send_alert
from ..store import outbox
from . import render

log = logging.getLogger(__name__)


def backoff(settings: NotifySettings, attempts: int) -> timedelta:
    seconds = settings.retry_initial_s * (2 ** max(attempts - 1, 0))
    return timedelta(seconds=min(seconds, settings.retry_max_s))


class DeliveryWorker:
    def __init__(
        self,
        url: str,
        settings: NotifySettings,
        smtp: SmtpSettings,
        alerts: AlertPublisher,
        live: LiveHub | None = None,
    ) -> None:
        self.url = url
        #: the circles' live streams show each alert this worker gets to the broker
        self.live = live
        self.settings = settings
        self.smtp = smtp
        self.alerts = alerts
        self._wake = asyncio.Event()

    def kick(self) -> None:
        """Something was committed to the outbox: look now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.url, autocommit=True, connect_timeout=5
                ) as conn:
                    while True:
                        self._wake.clear()  # a kick during the tick makes the wait return
                        handled = await self.tick(conn)
                        if handled < self.settings.batch:
                            with contextlib.suppress(TimeoutError):
                                await asyncio.wait_for(self._wake.wait(), self.settings.poll_s)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                log.warning("notification delivery lost the database: %s; retrying", exc)
                await asyncio.sleep(1.0)

    async def tick(self, conn: psycopg.AsyncConnection[Any]) -> int:
        """Claim, send and record one round; returns the rows claimed."""
        lease = timedelta(seconds=self.settings.lease_s)
        claimed = await outbox.claim(conn, self.settings.batch, lease)
        if not claimed:
            return 0
        by_key: dict[str, list[outbox.Claimed]] = defaultdict(list)
        mails: list[outbox.Claimed] = []
        for row in claimed:
            if row.channel == "mqtt":
                by_key[row.dedup_key].append(row)
            else:
                mails.append(row)
        broker_away: str | None = None
        for rows in by_key.values():
            if broker_away is not None:  # not tried again this round (each waits its turn)
                await self._failed(conn, rows, broker_away)
                continue
            try:
                await send_alert(self.alerts, _alert(rows), self.live, key=rows[0].dedup_key)
            except AlertNotSent as exc:
                broker_away = str(exc)
                await self._failed(conn, rows, broker_away)
            else:
                await self._sent(conn, rows)
        if mails:
            await self._mail(conn, mails)
        return len(claimed)

    async def _mail(self, conn: psycopg.AsyncConnection[Any], rows: list[outbox.Claimed]) -> None:
        members = [r.payload.get("member", "") for r in rows]
        places = [
            str((r.payload.get("subject") or {}).get("place", {}).get("id", "")) for r in rows
        ]
        names, place_names = await outbox.names(conn, members, places)
        unreachable: str | None = None
        for row in rows:
            if unreachable is not None:
                await self._failed(conn, [row], unreachable)
                continue
            if not row.email:
                await self._failed(conn, [row], "the account has no email address", dead=True)
                continue
            subject = row.payload.get("subject") or {}
            place = subject.get("place") or {}
            who = names.get(row.payload.get("member", ""), row.payload.get("member", ""))
            message = render.email(
                row.kind,
                row.payload,
                recipient=row.recipient_name,
                circle=row.circle_name or row.circle_id,
                who=who or "A member",
                place=place.get("name") or place_names.get(str(place.get("id", ""))),
                live_url=self.settings.live_url,
            )
            try:
                await email.send(
                    self.smtp,
                    row.email,
                    message.subject,
                    message.text,
                    html=message.html,
                    message_id=f"<notification-{row.id}@trackgw>",
                )
            except email.EmailError as exc:
                unreachable = str(exc)
                await self._failed(conn, [row], unreachable)
            else:
                await self._sent(conn, [row])

    async def _sent(self, conn: psycopg.AsyncConnection[Any], rows: list[outbox.Claimed]) -> None:
        await outbox.mark_sent(conn, [r.id for r in rows])
        for r in rows:
            metrics.notifications_sent.labels(r.channel, r.kind).inc()

    async def _failed(
        self,
        conn: psycopg.AsyncConnection[Any],
        rows: list[outbox.Claimed],
        error: str,
        *,
        dead: bool = False,
    ) -> None:
        attempts = max(r.attempts for r in rows)
        limit = 0 if dead else self.settings.max_attempts
        died = await outbox.mark_failed(
            conn, [r.id for r in rows], error, backoff(self.settings, attempts), limit
        )
        channel = rows[0].channel
        metrics.notifications_failed.labels(channel).inc(len(rows))
        if died:
            metrics.notifications_dead.labels(channel).inc(died)
            log.error("%d %s notifications dead-lettered: %s", died, channel, error)
        else:
            log.warning(
                "%d %s notifications not delivered, retrying: %s", len(rows), channel, error
            )


def _alert(rows: list[outbox.Claimed]) -> Alert:
    first = rows[0]
    payload = first.payload
    when = payload.get("time")
    try:
        time = datetime.fromisoformat(when) if isinstance(when, str) else datetime.now(UTC)
    except ValueError:
        time = datetime.now(UTC)
    return Alert(
        circle_id=first.circle_id or "",
        kind=first.kind,
        member=str(payload.get("member", "")),
        device=str(payload.get("device", "")),
        time=time,
        subject=payload.get("subject") or {},
        recipients=tuple(sorted({r.recipient for r in rows})),
    )
