"""The outbox and the device watch with two processes at once (two connections racing on
the same rows, as two gateways would): every due device is stopped once, every row claimed
once; a claim whose process died is claimed again after its lease."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import psycopg
import pytest

from gateway.store import admin, outbox, watch

from .. import services

pytestmark = pytest.mark.integration

DEVICES = 40


def nobody(device_id: int, circle: str | None) -> list[outbox.Audience]:
    return []


async def test_two_processes_stop_each_due_device_once(db_url: str) -> None:
    ids = []
    with services.connect() as conn:
        for _ in range(DEVICES):
            device_id = admin.add_device(conn, "gt06", services.unique_imei(), "fleet").id
            ids.append(device_id)
            conn.execute(
                "insert into device_watch (device_id, last_seen, due_at)"
                " values (%s, now() - interval '1 hour', now() - interval '1 minute')",
                (device_id,),
            )

    async def process() -> int:
        total = 0
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
            while n := await watch.stop_due(conn, 3, nobody):
                total += n
                await asyncio.sleep(0)
        return total

    counts = await asyncio.gather(process(), process(), process())
    assert sum(counts) == DEVICES
    with services.connect() as conn:
        rows = conn.execute(
            "select device_id, count(*) from events where kind = 'tracking_stopped'"
            " and device_id = any(%s) group by device_id",
            (ids,),
        ).fetchall()
    assert sorted(rows) == [(d, 1) for d in sorted(ids)]


async def test_rows_are_claimed_once_and_again_after_a_lease(db_url: str) -> None:
    account = services.unique("acct")
    with services.connect() as setup:
        admin.add_device(setup, "gt06", services.unique_imei(), account)  # creates the account
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        for i in range(30):
            await outbox.add_notice(conn, f"test:{account}:{i}", account, "ended", None, {})
        # the same notices again (a job run twice): nothing new
        again = [
            await outbox.add_notice(conn, f"test:{account}:{i}", account, "ended", None, {})
            for i in range(30)
        ]
        assert sum(again) == 0

    async def claimer() -> list[int]:
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
            got: list[int] = []
            while rows := await outbox.claim(conn, 4, timedelta(seconds=30)):
                got += [r.id for r in rows if r.recipient == account]
            return got

    a, b = await asyncio.gather(claimer(), claimer())
    assert len(a) + len(b) == 30
    assert not set(a) & set(b)
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        # nothing sent (the "process" died): not claimable until the lease passes
        assert [
            r
            for r in await outbox.claim(conn, 100, timedelta(seconds=30))
            if r.recipient == account
        ] == []
        await conn.execute(
            "update notifications set leased_until = now() - interval '1 second'"
            " where recipient = %s",
            (account,),
        )
        rows = [
            r
            for r in await outbox.claim(conn, 100, timedelta(seconds=30))
            if r.recipient == account
        ]
        assert len(rows) == 30
        assert {r.attempts for r in rows} == {2}
        await outbox.mark_sent(conn, [r.id for r in rows])
        cur = await conn.execute(
            "select status, count(*) from notifications where recipient = %s group by status",
            (account,),
        )
        assert await cur.fetchall() == [("sent", 30)]
