"""TCP listeners: one port per protocol, plus one auto-detecting port.

Per connection: a protocol session (sans-IO), an idle timeout (``limits.idle_timeout_s``: no
byte for that long and the connection is closed), a cap on rejected frames, a cap on
connections per source address and one shared cap on connections across every TCP listener
(``limits.max_connections``, a ``ConnectionCap`` the app hands to each). A full intake makes
``route`` wait, so the read loop stops reading and TCP flow control holds the device back.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
from collections import Counter
from collections.abc import Callable
from typing import Any

from .. import metrics
from ..config import LimitSettings
from ..pipeline.route import IntakeClosed, Router
from .connections import Connection, Connections
from .decode import receive

log = logging.getLogger(__name__)

_conn_ids = itertools.count(1)

#: the read size: big enough for a burst of frames, small enough to bound one read's work
READ_SIZE = 65536


class ConnectionCap:
    """Open connections across listeners, at most ``limit`` (one per process, shared)."""

    __slots__ = ("limit", "open")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0

    def take(self) -> bool:
        if self.open >= self.limit:
            return False
        self.open += 1
        return True

    def give_back(self) -> None:
        self.open -= 1


class TcpListener:
    def __init__(
        self,
        name: str,
        new_session: Callable[[], Any],
        host: str,
        port: int,
        router: Router,
        limits: LimitSettings,
        reuse_port: bool = False,
        cap: ConnectionCap | None = None,
        connections: Connections | None = None,
    ) -> None:
        self.name = name
        self._new_session = new_session
        self.host = host
        self.port = port
        self.router = router
        self.limits = limits
        self.reuse_port = reuse_port
        self._server: asyncio.Server | None = None
        self._per_ip: Counter[str] = Counter()
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._closing = False
        #: shared by every TCP listener of the app; a listener on its own gets its own
        self.cap = cap if cap is not None else ConnectionCap(limits.max_connections)
        #: where an identified device's connection is registered for commands
        self.connections = connections

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle,
            self.host,
            self.port,
            reuse_port=self.reuse_port or None,
            backlog=1024,
        )
        sock = self._server.sockets[0]
        self.port = sock.getsockname()[1]
        log.info(
            "listening for %s on tcp %s:%d",
            self.name,
            self.host,
            self.port,
            extra={"protocol": self.name, "port": self.port},
        )

    async def serving(self) -> None:
        """Runs while the server accepts connections (the supervisor watches it)."""
        assert self._server is not None, "start() first"
        await self._server.serve_forever()

    def stop_accepting(self) -> None:
        self._closing = True
        if self._server is not None:
            self._server.close()

    async def close(self) -> None:
        """Close every connection (after the writer has released their held replies)."""
        self.stop_accepting()
        for w in list(self._writers):
            w.close()
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.gather(*self._handlers, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        peername = writer.get_extra_info("peername") or ("?", 0)
        ip = str(peername[0])
        peer = f"{ip}:{peername[1]}"
        conn = next(_conn_ids)
        if self._closing:
            writer.close()
            self._handlers.discard(task)
            return
        if self._per_ip[ip] >= self.limits.max_connections_per_ip:
            metrics.connections_refused.labels(self.name, "per_ip_limit").inc()
            writer.close()
            self._handlers.discard(task)
            return
        if not self.cap.take():
            metrics.connections_refused.labels(self.name, "connection_limit").inc()
            writer.close()
            self._handlers.discard(task)
            return
        self._per_ip[ip] += 1
        self._writers.add(writer)
        metrics.connections_open.labels(self.name).inc()
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        session = self._new_session()

        def send(data: bytes) -> None:
            if data and not writer.is_closing():
                writer.write(data)

        def write(data: bytes) -> bool:
            if writer.is_closing():
                return False
            writer.write(data)
            return True

        live: Connection | None = None

        errors = 0
        garbage = 0
        reason = "eof"
        try:
            while True:
                try:
                    async with asyncio.timeout(self.limits.idle_timeout_s):
                        data = await reader.read(READ_SIZE)
                except TimeoutError:
                    reason = "idle"
                    metrics.connections_refused.labels(self.name, "idle").inc()
                    break
                if not data:
                    break
                messages = receive(session, data, stream=True)
                protocol = getattr(session, "protocol", None) or self.name
                try:
                    outcome = await self.router.route(protocol, messages, send, peer=peer, raw=data)
                except IntakeClosed:  # we are shutting down
                    reason = "shutdown"
                    break
                errors += outcome.errors
                if (
                    outcome.device_id is not None
                    and self.connections is not None
                    and (live is None or live.device_id != outcome.device_id)
                ):
                    if live is not None:
                        self.connections.detach(live)
                    live = Connection(
                        outcome.device_id,
                        session.device_key or "",
                        protocol,
                        "tcp",
                        write,
                        getattr(session, "values", {}),
                    )
                    self.connections.attach(live)
                skipped = getattr(session, "skipped", 0)
                if skipped > garbage:
                    metrics.garbage_bytes.labels(protocol).inc(skipped - garbage)
                    garbage = skipped
                    if garbage > self.limits.max_garbage_bytes:
                        reason = f"{garbage} bytes of garbage"
                        metrics.connections_refused.labels(self.name, "garbage").inc()
                        break
                if outcome.close:
                    reason = outcome.close
                    metrics.connections_refused.labels(self.name, "protocol").inc()
                    break
                if errors >= self.limits.max_errors_per_connection:
                    reason = f"{errors} rejected frames"
                    metrics.connections_refused.labels(self.name, "errors").inc()
                    break
                if writer.transport.get_write_buffer_size() > 1 << 20:
                    await writer.drain()  # a device that does not read its replies
        except (ConnectionError, asyncio.IncompleteReadError):
            reason = "reset"
        except asyncio.CancelledError:
            reason = "shutdown"
        except Exception:  # one connection's failure (e.g. a lookup while the DB is away)
            reason = "error"
            metrics.message_errors.labels(f"tcp-{self.name}").inc()
            log.exception(
                "connection %d from %s failed",
                conn,
                peer,
                extra={"conn": conn, "peer": peer, "protocol": self.name},
            )
        finally:
            log.debug(
                "connection %d from %s closed: %s",
                conn,
                peer,
                reason,
                extra={"conn": conn, "peer": peer, "protocol": self.name},
            )
            if live is not None and self.connections is not None:
                self.connections.detach(live)
            self.cap.give_back()
            self._per_ip[ip] -= 1
            if self._per_ip[ip] <= 0:
                del self._per_ip[ip]
            metrics.connections_open.labels(self.name).dec()
            self._writers.discard(writer)
            self._handlers.discard(task)
            if reason not in ("shutdown",):
                writer.close()
