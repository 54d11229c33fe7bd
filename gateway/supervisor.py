"""One supervisor for every long-running task of the gateway.

Each task (listeners, writer, MQTT ingestion, alert publisher, entitlement listener, device
directory listener) runs under ``Supervisor.start``. A task is expected to run until the
gateway stops; one that ends before (an exception, or returning) is recorded as failed:
``/readyz`` reports it at once, and ``app.serve`` drains and raises ``TaskFailed`` so that
``trackgw serve`` exits non-zero and systemd (``Restart=on-failure``) or compose restarts it.
Errors in handling one message are contained by the task itself (logged, counted in
``trackgw_message_errors_total``, the message rejected) and never reach the supervisor.

Fault injection (tests only): ``supervision.fault_task`` names a task; ``fault_after_s``
after it started, the supervisor cancels it and raises ``FaultInjected`` in its place, which
the supervisor then treats like any other task death. It exists only so tests can kill each
task in turn; it is off ("") by default.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from . import metrics
from .config import SupervisionSettings

log = logging.getLogger(__name__)


class TaskFailed(Exception):
    """A supervised task ended while the gateway was running."""

    def __init__(self, name: str, cause: BaseException | None) -> None:
        what = "returned" if cause is None else f"failed: {type(cause).__name__}: {cause}"
        super().__init__(f"task {name!r} {what}")
        self.name = name
        self.cause = cause


class FaultInjected(Exception):
    """Raised in place of a task by the test-only fault injector."""


class Supervisor:
    def __init__(self, settings: SupervisionSettings | None = None) -> None:
        self.settings = settings or SupervisionSettings()
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.failure: TaskFailed | None = None
        self.failed = asyncio.Event()
        self.stopping = False

    def start(self, name: str, coro: Coroutine[Any, Any, None]) -> None:
        if name in self.tasks:
            raise ValueError(f"a task named {name!r} is already supervised")
        self.tasks[name] = asyncio.create_task(self._guard(name, coro), name=name)

    @property
    def names(self) -> list[str]:
        return list(self.tasks)

    def state(self) -> dict[str, str]:
        """Per task: "running", or why it is not."""
        out = {}
        for name, task in self.tasks.items():
            if not task.done():
                out[name] = "running"
            elif self.failure is not None and self.failure.name == name:
                out[name] = str(self.failure)
            else:
                out[name] = "stopped"
        return out

    async def _guard(self, name: str, coro: Coroutine[Any, Any, None]) -> None:
        metrics.task_up.labels(name).set(1)
        try:
            if self.settings.fault_task == name:
                await self._with_fault(name, coro)
            else:
                await coro
            if not self.stopping:
                self._record(name, None)
        except asyncio.CancelledError:
            if not self.stopping:  # cancelled by something other than our shutdown
                self._record(name, asyncio.CancelledError("cancelled"))
            raise
        except Exception as exc:
            self._record(name, exc)
        finally:
            metrics.task_up.labels(name).set(0)

    async def _with_fault(self, name: str, coro: Coroutine[Any, Any, None]) -> None:
        inner = asyncio.create_task(coro, name=f"{name}-inner")
        done, _ = await asyncio.wait({inner}, timeout=self.settings.fault_after_s)
        if inner in done:
            inner.result()
            return
        inner.cancel()
        await asyncio.gather(inner, return_exceptions=True)
        raise FaultInjected(f"fault injected into {name!r} (supervision.fault_task)")

    def _record(self, name: str, cause: BaseException | None) -> None:
        if self.failure is None:
            self.failure = TaskFailed(name, cause)
            log.error(
                "supervised task %r ended; the gateway stops (exit status 1)",
                name,
                exc_info=cause if isinstance(cause, Exception) else None,
                extra={"task": name},
            )
        self.failed.set()

    async def stop(self, names: list[str] | None = None, within_s: float = 10.0) -> None:
        """Cancel the tasks (all, or ``names``) and wait for them."""
        self.stopping = True
        tasks = [t for n, t in self.tasks.items() if names is None or n in names]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=within_s)
