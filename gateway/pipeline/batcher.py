"""The chain, driven by one task: intake -> batch -> filters -> geofence -> commit ->
acknowledgements -> alerts.

Each stage is handed the ``Batch`` and returns its result on it (``pipeline.batch``). Two
steps overlap so that the CPU work on the next batch overlaps the database work on this one:
a preparer takes envelopes from the intake and runs the filter stage (position rows, device
events) while the main step runs geofence -> commit -> deliver on the batch before. The
geofence stage sees batches in commit order, each after the one before has committed (its
state is applied after each commit). One prepared batch at most waits between the two.

An unexpected exception in the geofence or delivery stages is logged and counted, and the
batch goes on (its data is stored; the geofence engine's own failures are contained in
``geofence.evaluate_safely``). The commit stage retries connection errors for ever and
dead-letters refused rows; anything else ends the task, which the supervisor turns into a
failed readiness check and a non-zero exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from entitlements import Snapshot

from .. import metrics
from ..config import PipelineSettings
from .batch import Batch
from .commit import Committer
from .deliver import Delivery
from .filters import Filters
from .geofence import GeofenceStage
from .intake import Envelope, Intake
from .notify import Addressing

log = logging.getLogger(__name__)


class Writer:
    def __init__(
        self,
        intake: Intake,
        filters: Filters,
        geofence: GeofenceStage,
        committer: Committer,
        delivery: Delivery,
        settings: PipelineSettings,
        snapshot: Callable[[], Snapshot | None],
        addressing: Addressing | None = None,
        confirm_every_s: float = 0.0,
        confirm_settle_s: float = 5.0,
    ) -> None:
        self.addressing = addressing
        #: the geofence timer (``GeofenceStage.confirm``): how often, and how far behind now
        self.confirm_every_s = confirm_every_s
        self.confirm_settle = timedelta(seconds=confirm_settle_s)
        self._confirmed_mono = time.monotonic()
        self.intake = intake
        self.filters = filters
        self.geofence = geofence
        self.committer = committer
        self.delivery = delivery
        self.settings = settings
        self._snapshot = snapshot

    @property
    def healthy(self) -> bool:
        return self.committer.healthy

    @property
    def last_commit_mono(self) -> float | None:
        return self.committer.last_commit_mono

    async def run(self) -> None:
        """Until the intake is closed and drained."""
        self.committer.start()
        handoff: asyncio.Queue[Batch | BaseException | None] = asyncio.Queue(maxsize=1)
        preparer = asyncio.create_task(self._prepare(handoff), name="writer-prepare")
        try:
            while True:
                try:
                    work = await asyncio.wait_for(handoff.get(), self._until_confirm())
                except TimeoutError:  # idle: the geofence timer's turn
                    await self.confirm_timer()
                    continue
                handoff.task_done()  # the preparer may take the next batch now
                if work is None:
                    break
                if isinstance(work, BaseException):
                    raise work
                await self.process(work)
                if self._until_confirm() == 0.0:
                    await self.confirm_timer()
        finally:
            if not preparer.done():
                preparer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await preparer
            await self.committer.stop()

    async def _prepare(self, handoff: asyncio.Queue[Batch | BaseException | None]) -> None:
        """Take a batch, run the filter stage, hand it over and wait until it is picked up."""
        max_age = self.settings.batch_max_age_ms / 1000.0
        try:
            while True:
                envelopes = await self.intake.take(self.settings.batch_max, max_age)
                if not envelopes:
                    break
                work = self.form(envelopes)
                await handoff.put(work)
                await handoff.join()
        except Exception as exc:  # the writer task raises it, as if it had failed itself
            await handoff.put(exc)
            return
        await handoff.put(None)

    def _until_confirm(self) -> float | None:
        if self.confirm_every_s <= 0:
            return None
        return max(0.0, self._confirmed_mono + self.confirm_every_s - time.monotonic())

    async def confirm_timer(self) -> None:
        """Pending geofence transitions of devices that went silent, confirmed by time, in a
        batch of their own (between batches: the writer task owns the geofence state)."""
        self._confirmed_mono = time.monotonic()
        work = Batch([], datetime.now(UTC), self._snapshot())
        try:
            self.geofence.confirm(work, self.confirm_settle, self.filters.last_fix)
        except Exception:
            metrics.message_errors.labels("geofence").inc()
            log.exception("the geofence timer failed")
            return
        if work.geofence is None or work.geofence.evaluation is None:
            return
        if self.addressing is not None:
            self.addressing.apply(work)
        await self.committer.commit(work)
        try:
            self.geofence.apply(work)
            self.delivery.publish(work)
        except Exception:
            metrics.message_errors.labels("deliver").inc()
            log.exception("after-commit delivery failed for the geofence timer")

    def form(self, envelopes: list[Envelope]) -> Batch:
        """A batch of ``envelopes``, through the filter stage."""
        work = Batch(envelopes, datetime.now(UTC), self._snapshot())
        self.filters.apply(work)
        return work

    async def process(self, work: Batch) -> None:
        """geofence -> commit -> acknowledgements -> geofence state -> alerts."""
        try:
            self.geofence.evaluate(work)
        except Exception:
            metrics.message_errors.labels("geofence").inc()
            log.exception("the geofence stage failed on a batch; storing it without")
            work.rows.events = [r for r in work.rows.events if r.kind.startswith("alarm:")]
            work.rows.geofence_state = []
            work.geofence = None
        if self.addressing is not None:
            try:
                self.addressing.apply(work)
            except Exception:
                metrics.message_errors.labels("notify").inc()
                log.exception("the notify stage failed on a batch; storing it without")
                work.rows.audience_of = None
                work.rows.battery = []
        await self.committer.commit(work)
        self.delivery.release(work)
        try:
            self.geofence.apply(work)
            self.delivery.publish(work)
        except Exception:
            metrics.message_errors.labels("deliver").inc()
            log.exception("after-commit delivery failed for a batch")
