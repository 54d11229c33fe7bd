"""Issue 12, the notices the terms promise, through the outbox to the payer's mailbox (an
SMTP server in this process): an annual subscription renewing in 30 days gets one reminder,
once, though the gateway is restarted and the job runs again; a price change announced with
30 days' notice mails every affected payer once; a kind can be turned off."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from entitlements import load_subscriptions
from entitlements.plans import load_catalogue
from gateway.config import NotifySettings
from gateway.notify.jobs import Jobs
from gateway.notify.worker import DeliveryWorker
from gateway.store import admin
from gateway.store.subscriptions import replace_circle_subscriptions

from .. import services
from .mailbox import Inbox, smtp_server
from .test_notifications import mails_to, notify_settings, parts, set_email

pytestmark = pytest.mark.integration

PLANS = Path(__file__).resolve().parents[2] / "entitlements" / "plans.toml"


def payer_circle(plan: str, cycle: str, started: datetime, period_end: datetime) -> tuple[str, str]:
    """A circle whose owner pays ``plan``: (circle, the owner's address)."""
    owner, circle = services.unique("payer"), services.unique("circle")
    with services.connect() as conn:
        admin.add_circle(conn, circle, owner)
    subs = load_subscriptions(
        {
            "circle": circle,
            "subscriptions": [
                {
                    "id": services.unique("sub"),
                    "plan": plan,
                    "cycle": cycle,
                    "started_at": started.isoformat(),
                    "current_period_end": period_end.isoformat(),
                    "payer": services.unique("card"),
                }
            ],
        }
    )

    async def write() -> None:
        async with await psycopg.AsyncConnection.connect(services.TEST_URL) as conn:
            await replace_circle_subscriptions(
                conn, circle, list(subs.subscriptions), datetime.now(UTC)
            )

    asyncio.run(write())
    return circle, set_email(owner)


@pytest.fixture
def smtp() -> object:
    with smtp_server() as server:
        yield server


async def test_renewal_reminder_once_through_a_restart(
    db_url: str, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    now = datetime.now(UTC)
    renews = now + timedelta(days=30)
    started = renews - timedelta(days=365)
    circle, address = await asyncio.to_thread(payer_circle, "gold", "annual", started, renews)
    s = services.settings(db_url, **notify_settings(port, billing_every_s=0.5))
    with services.connect() as conn:  # earlier gateways of this run scheduled it later
        conn.execute("update scheduled_jobs set due_at = now() where name = 'billing_notices'")
    for _ in range(2):  # the gateway, and the gateway again after a restart
        async with services.running_gateway(s):
            await services.wait_until(lambda: len(mails_to(inbox, address)) >= 1)
            await asyncio.sleep(2.0)  # the job ran a few more times meanwhile
    mails = mails_to(inbox, address)
    assert len(mails) == 1
    assert "renews" in mails[0]["Subject"]
    text = parts(mails[0])["text/plain"]
    assert renews.strftime("%Y-%m-%d") in mails[0]["Subject"] + text
    assert f"Circle: {circle}" in text


async def test_a_price_change_mails_every_affected_payer_once(
    db_url: str, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    now = datetime.now(UTC).replace(microsecond=0)
    announced = now - timedelta(hours=1)
    text = PLANS.read_text() + (
        "\n[[plans.silver.price_changes]]\n"
        f"announced = {announced.strftime('%Y-%m-%dT%H:%M:%SZ')}\n"
        "monthly = 349\n"
    )
    catalogue = load_catalogue(text)
    before = now - timedelta(days=40)
    affected = [
        await asyncio.to_thread(
            payer_circle, "silver", "monthly", before + timedelta(days=i), now + timedelta(days=5)
        )
        for i in range(3)
    ]
    # started after the announcement (subscribed at the new schedule), another plan
    _, late = await asyncio.to_thread(
        payer_circle, "silver", "monthly", now - timedelta(minutes=10), now + timedelta(days=30)
    )
    _, gold = await asyncio.to_thread(
        payer_circle, "gold", "monthly", before, now + timedelta(days=5)
    )
    s = services.settings(db_url, **notify_settings(port))
    worker = DeliveryWorker(db_url, s.notify, s.smtp, alerts=None)  # type: ignore[arg-type]
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        for _ in range(3):  # three runs of the job (e.g. three processes or restarts)
            jobs = Jobs(db_url, s.notify, lambda: None, None, lambda: None, catalogue)  # type: ignore[arg-type]
            await jobs.billing_notices(conn)
        while await worker.tick(conn):
            pass
    got = Counter(m["To"] for m in inbox.messages)
    for _, address in affected:
        assert got[address] == 1, got
        (mail,) = mails_to(inbox, address)
        assert "price changes" in mail["Subject"]
        assert "349" in parts(mail)["text/plain"]
    assert (got[late], got[gold]) == (0, 0)


async def test_a_notice_kind_turned_off_is_not_sent(db_url: str) -> None:
    now = datetime.now(UTC)
    renews = now + timedelta(days=30)
    circle, _ = await asyncio.to_thread(
        payer_circle, "gold", "annual", renews - timedelta(days=365), renews
    )
    settings = NotifySettings(billing_off="renewal_reminder, trial_ending")
    jobs = Jobs(db_url, settings, lambda: None, None, lambda: None)  # type: ignore[arg-type]
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        await jobs.billing_notices(conn)
        cur = await conn.execute(
            "select count(*) from notifications where circle_id = %s", (circle,)
        )
        assert await cur.fetchone() == (0,)
        # the reminder is still due: later gateways of this run would mail it (to another
        # test's SMTP server)
        await conn.execute("delete from subscriptions where circle_id = %s", (circle,))
    with pytest.raises(ValueError, match="unknown notice kinds"):
        Jobs(db_url, NotifySettings(billing_off="renewal"), lambda: None, None, lambda: None)  # type: ignore[arg-type]
