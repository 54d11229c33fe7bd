"""The writer stage: batches from the intake -> filters -> processors -> one transaction ->
held acknowledgements released -> after-commit hooks (alerts, live streams)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import psycopg

from .. import metrics
from ..config import PipelineSettings
from ..store import writer
from .filters import Filters
from .intake import Envelope, Intake

log = logging.getLogger(__name__)

T = TypeVar("T")


class BatchProcessor(Protocol):
    """A stage that sees each batch's accepted positions before it is written (geofencing).

    ``process`` adds events and state rows to the batch; ``after_commit`` is told what was
    written (and which events were new) once the transaction has committed.
    """

    def process(
        self, positions: Sequence[tuple[int, Any]], batch: writer.Batch, now: datetime
    ) -> None: ...

    async def after_commit(self, result: writer.WriteResult) -> None: ...


ConnectionFactory = Callable[[], Awaitable[psycopg.AsyncConnection[Any]]]


@dataclass(slots=True)
class _Prepared:
    """A batch taken from the intake with its rows built, not yet processed or written."""

    envelopes: list[Envelope]
    batch: writer.Batch
    accepted: list[tuple[int, Any]]
    now: datetime


class _DatabaseThread:
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


class Writer:
    def __init__(
        self,
        intake: Intake,
        connect: ConnectionFactory,
        filters: Filters,
        settings: PipelineSettings,
        processors: Sequence[BatchProcessor] = (),
    ) -> None:
        self.intake = intake
        self._connect = connect
        self.filters = filters
        self.settings = settings
        self.processors = list(processors)
        self._conn: psycopg.AsyncConnection[Any] | None = None  #: used in the database thread
        self._db = _DatabaseThread.__new__(_DatabaseThread)  # started by run()
        self.healthy = False
        self.last_commit_mono: float | None = None

    async def run(self) -> None:
        """Until the intake is closed and drained.

        Two stages, so that the CPU work on the next batch overlaps the database work on this
        one: a preparer task takes envelopes from the intake and builds their rows (filters,
        position rows, device events) while this task runs the processors (geofencing) on the
        batch before, writes it, releases its acknowledgements and runs the after-commit hooks.
        One prepared batch at most waits between the two; batches commit in intake order.
        """
        self._db = _DatabaseThread()
        handoff: asyncio.Queue[_Prepared | BaseException | None] = asyncio.Queue(maxsize=1)
        preparer = asyncio.create_task(self._prepare(handoff), name="writer-prepare")
        try:
            while True:
                prepared = await handoff.get()
                handoff.task_done()  # the preparer may take the next batch now
                if prepared is None:
                    break
                if isinstance(prepared, BaseException):
                    raise prepared
                await self._commit(prepared)
        finally:
            if not preparer.done():
                preparer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await preparer
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    await self._db.call(self._drop_connection())
            self._db.stop()

    async def _prepare(self, handoff: asyncio.Queue[_Prepared | BaseException | None]) -> None:
        """Take a batch, build its rows, hand it over and wait until it is picked up."""
        max_age = self.settings.batch_max_age_ms / 1000.0
        try:
            while True:
                envelopes = await self.intake.take(self.settings.batch_max, max_age)
                if not envelopes:
                    break
                now = datetime.now(UTC)
                batch, accepted = self.rows(envelopes, now)
                await handoff.put(_Prepared(envelopes, batch, accepted, now))
                await handoff.join()
        except Exception as exc:  # the writer task raises it, as if it had failed itself
            await handoff.put(exc)
            return
        await handoff.put(None)

    def build(
        self, envelopes: Sequence[Envelope], now: datetime
    ) -> tuple[writer.Batch, list[tuple[int, Any]]]:
        """The batch for ``envelopes``: rows, then what the processors add."""
        batch, accepted = self.rows(envelopes, now)
        for processor in self.processors:
            processor.process(accepted, batch, now)
        return batch, accepted

    def rows(
        self, envelopes: Sequence[Envelope], now: datetime
    ) -> tuple[writer.Batch, list[tuple[int, Any]]]:
        """Filters, position rows and device events (not the processors: they see batches in
        commit order, each after the one before has committed)."""
        batch = writer.Batch()
        accepted: list[tuple[int, Any]] = []
        check = self.filters.check
        rows = batch.positions
        row_of = writer.position_row
        for envelope in envelopes:
            received = envelope.received_at
            for device_id, pos in envelope.positions:
                dropped = check(device_id, pos, now)
                if dropped is not None:
                    metrics.positions_filtered.labels(dropped).inc()
                    continue
                rows.append(row_of(device_id, pos, received))
                accepted.append((device_id, pos))
            for device_id, event in envelope.events:
                payload: dict[str, Any] = dict(event.attributes)
                if event.position is not None:
                    payload["lat"] = event.position.lat
                    payload["lon"] = event.position.lon
                batch.events.append(
                    writer.EventRow(device_id, None, f"alarm:{event.kind}", event.time, "", payload)
                )
        return batch, accepted

    async def _commit(self, prepared: _Prepared) -> None:
        envelopes, batch = prepared.envelopes, prepared.batch
        for processor in self.processors:
            processor.process(prepared.accepted, batch, prepared.now)
        delay = self.settings.retry_initial_ms / 1000.0
        while True:
            try:
                result = await self._db.call(self._write(batch))
                break
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                # The database is away: keep the batch (nothing of it was acknowledged),
                # hold the intake full so listeners stop reading, and try again.
                self.healthy = False
                metrics.batch_failures.inc()
                log.warning(
                    "batch of %d positions not written, retrying in %.1fs: %s",
                    len(batch.positions),
                    delay,
                    exc,
                )
                await self._db.call(self._drop_connection())
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        self.healthy = True
        self.last_commit_mono = time.monotonic()
        metrics.batches.inc()
        metrics.batch_size.observe(len(batch.positions))
        metrics.positions_stored.inc(result.positions_inserted)
        for event in result.new_events:
            metrics.events_stored.labels(event.kind).inc()
        done = time.monotonic()
        for envelope in envelopes:
            metrics.commit_latency.observe(done - envelope.received_mono)
            if envelope.on_commit is not None:
                try:
                    envelope.on_commit()
                except Exception:  # a closed socket must not stop the writer
                    log.exception("releasing an acknowledgement failed")
        self.intake.release(envelopes)
        for processor in self.processors:
            try:
                await processor.after_commit(result)
            except Exception:
                log.exception("after-commit hook failed")

    async def _write(self, batch: writer.Batch) -> writer.WriteResult:
        """In the database thread."""
        return await writer.write(await self._connection(), batch)

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
