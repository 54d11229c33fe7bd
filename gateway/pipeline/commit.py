"""The commit stage: one batch -> one transaction (``store.writer``), on a connection of its
own driven by an event loop in a thread of its own.

A connection error keeps the batch and retries it (nothing of it has been acknowledged; the
intake stays full meanwhile, so listeners stop reading). A row error (a data or integrity
error) splits the batch to find the rows at fault (``store.writer.write_isolating``): the
others commit, the refused ones go to ``dead_letters`` with the error and the raw read they
came from, counted in ``trackgw_dead_letters_total{reason}``; the whole batch is then
acknowledged (a refused row would be refused again if the device resent it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import psycopg

from .. import metrics
from ..config import PipelineSettings
from ..store import dead_letters, writer
from .batch import Batch

log = logging.getLogger(__name__)

T = TypeVar("T")

ConnectionFactory = Callable[[], Awaitable[psycopg.AsyncConnection[Any]]]


class DatabaseThread:
    """An event loop in a thread of its own for the writer's database I/O.

    On the main loop every round trip of a batch (begin, copy, insert, commit) waited behind
    a whole turn of the loop -- a hundred tracker reads being decoded -- so the database
    and the decoding took turns instead of overlapping. Here the connection is driven by its
    own loop (libpq waits without the GIL) and the main loop only awaits the result.
    """

    def __init__(self) -> None:
        # When its socket is ready this thread waits for the GIL at most the interpreter's
        # switch interval, once per round trip: ``app.serve`` lowers it to 1 ms.
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="writer-db", daemon=True)
        self.thread.start()

    async def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        if not self.thread.is_alive():
            self.loop.close()


class Committer:
    def __init__(self, connect: ConnectionFactory, settings: PipelineSettings) -> None:
        self._connect = connect
        self.settings = settings
        self._conn: psycopg.AsyncConnection[Any] | None = None  #: used in the database thread
        self._db: DatabaseThread | None = None
        self.healthy = False
        self.last_commit_mono: float | None = None

    def start(self) -> None:
        self._db = DatabaseThread()

    async def stop(self) -> None:
        if self._db is None:
            return
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._db.call(self._drop_connection())
        self._db.stop()
        self._db = None

    async def commit(self, work: Batch) -> None:
        """Write ``work.rows``; the outcome on ``work.result``. Returns once committed."""
        assert self._db is not None, "start() first"
        rows = work.rows
        delay = self.settings.retry_initial_ms / 1000.0
        while True:
            try:
                result = await self._db.call(self._write(work))
                break
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                # The database is away: keep the batch (nothing of it was acknowledged),
                # hold the intake full so listeners stop reading, and try again.
                self.healthy = False
                metrics.batch_failures.inc()
                log.warning(
                    "batch of %d positions not written, retrying in %.1fs: %s",
                    len(rows.positions),
                    delay,
                    exc,
                )
                await self._db.call(self._drop_connection())
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        work.result = result
        self.healthy = True
        self.last_commit_mono = time.monotonic()
        metrics.batches.inc()
        metrics.batch_size.observe(len(rows.positions))
        metrics.positions_stored.inc(result.positions_inserted)
        for event in result.new_events:
            metrics.events_stored.labels(event.kind).inc()
        for refused in result.refused:
            metrics.dead_letters.labels(refused.reason).inc()

    async def _write(self, work: Batch) -> writer.WriteResult:
        """In the database thread."""
        conn = await self._connection()
        result = await writer.write_isolating(conn, work.rows)
        if result.refused:
            letters = [self._letter(work, r) for r in result.refused]
            for letter in letters:
                log.error(
                    "a %s row was refused by the database and dead-lettered: %s",
                    letter.kind,
                    letter.error,
                    extra={"device_id": letter.device_id, "reason": letter.reason},
                )
            try:
                await dead_letters.insert(conn, letters)
            except writer.ROW_ERRORS:  # never: their text is made storable; but not fatal
                log.exception("storing %d dead letters failed", len(letters))
                if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    await conn.rollback()
        return result

    @staticmethod
    def _letter(work: Batch, refused: writer.RefusedRow) -> dead_letters.DeadLetter:
        device_id: int | None = None
        if refused.kind == "position":
            device_id = work.rows.positions[refused.index][0]
        elif refused.kind == "event":
            device_id = work.rows.events[refused.index].device_id
        raw, protocol = work.raw_of(refused.kind, refused.index)
        return dead_letters.DeadLetter(
            refused.kind, device_id, protocol, refused.reason, refused.error, raw, refused.row_text
        )

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = await self._connect()
            await writer.prepare(self._conn)
        return self._conn

    async def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # already broken
                await self._conn.close()
            self._conn = None
