"""UDP listener (Teltonika over UDP): one session per datagram; the reply goes to the sender
after commit. UDP cannot push back, so when the intake is full a datagram is dropped unanswered
(the device resends what it was not acknowledged) and counted."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from .. import metrics
from ..logs import RateLimiter
from ..pipeline.route import IntakeClosed, Router
from .connections import Connection, Connections
from .decode import receive

log = logging.getLogger(__name__)
_log_limit = RateLimiter(60.0)


class UdpListener(asyncio.DatagramProtocol):
    def __init__(
        self,
        name: str,
        new_session: Callable[[], Any],
        host: str,
        port: int,
        router: Router,
        queue_max: int = 10_000,
        connections: Connections | None = None,
    ) -> None:
        self.name = name
        self._new_session = new_session
        self.host = host
        self.port = port
        self.router = router
        self._queue: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue(queue_max)
        self._transport: asyncio.DatagramTransport | None = None
        self._task: asyncio.Task[None] | None = None
        #: an identified device's last address is registered here for commands
        self.connections = connections

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: self, local_addr=(self.host, self.port)
        )
        self._transport = transport
        self.port = transport.get_extra_info("sockname")[1]
        self._task = asyncio.create_task(self._run(), name=f"udp-{self.name}")
        log.info(
            "listening for %s on udp %s:%d",
            self.name,
            self.host,
            self.port,
            extra={"protocol": self.name, "port": self.port},
        )

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            self._queue.put_nowait((data, addr))
        except asyncio.QueueFull:
            metrics.connections_refused.labels(f"{self.name}-udp", "queue_full").inc()

    async def serving(self) -> None:
        """Runs while datagrams are handled (the supervisor watches it)."""
        assert self._task is not None, "start() first"
        await self._task

    async def _run(self) -> None:
        while True:
            data, addr = await self._queue.get()
            peer = f"{addr[0]}:{addr[1]}"
            try:
                session = self._new_session()
                messages = receive(session, data, stream=False)
                send = self._sender(addr)
                outcome = await self.router.route(self.name, messages, send, peer=peer, raw=data)
                if outcome.device_id is not None and self.connections is not None:
                    self.connections.attach(
                        Connection(
                            outcome.device_id,
                            session.device_key or "",
                            self.name,
                            "udp",
                            self._writer(addr),
                            getattr(session, "values", {}),
                        )
                    )
            except IntakeClosed:
                return  # shutting down
            except Exception:  # this datagram is rejected (unanswered); the loop goes on
                metrics.message_errors.labels(f"udp-{self.name}").inc()
                if _log_limit.allow(self.name):
                    log.exception("handling a datagram from %s failed", peer, extra={"peer": peer})

    def _sender(self, addr: tuple[str, int]) -> Callable[[bytes], None]:
        def send(reply: bytes) -> None:
            transport = self._transport
            if transport is not None and not transport.is_closing():
                transport.sendto(reply, addr)

        return send

    def _writer(self, addr: tuple[str, int]) -> Callable[[bytes], bool]:
        def write(data: bytes) -> bool:
            transport = self._transport
            if transport is None or transport.is_closing():
                return False
            transport.sendto(data, addr)
            return True

        return write

    def stop_accepting(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def close(self) -> None:
        self.stop_accepting()
        if self._transport is not None:
            self._transport.close()
