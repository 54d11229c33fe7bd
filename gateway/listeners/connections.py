"""The live connections of this process, by device: where a command to a device is written.

One owner: the listeners attach a connection once its device is identified (after the
login or first frame the router accepted) and detach it when it closes; a TCP device that
reconnects replaces its old entry, and a Teltonika UDP device's entry is the address its
last datagram came from. The command dispatcher (gateway/device_commands.py) only reads it,
and learns from ``changed`` that a device has (re)connected, so a queued command is written
at once.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from protocols.base import Transport

from .. import metrics

#: how long a UDP device's last address is used for a command: a mobile NAT mapping usually
#: lives a few minutes; past that the command waits for the device's next datagram
UDP_FRESH_S = 120.0


@dataclass(slots=True, eq=False)
class Connection:
    device_id: int
    device_key: str
    protocol: str
    transport: Transport
    #: writes bytes to the device; False when the connection is closing
    write: Callable[[bytes], bool]
    #: the protocol session's own values (a watch's vendor code ...), read by encoders
    session: Mapping[str, object] = field(default_factory=dict)
    #: ``time.monotonic()`` of the device's last accepted read (a UDP peer's address is only
    #: good while its NAT mapping lives)
    seen: float = field(default_factory=time.monotonic)
    _serials: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def next_serial(self) -> int:
        """1, 2, ... per connection (GT06 serial numbers, Teltonika UDP packet ids)."""
        return next(self._serials)


class Connections:
    """Device id -> its live connection in this process (at most ``limit`` UDP peers: a
    TCP entry is bounded by the listeners' connection cap)."""

    def __init__(self, udp_limit: int = 100_000) -> None:
        self._by_device: dict[int, Connection] = {}
        self._udp_limit = udp_limit
        self._udp = 0
        #: device ids attached since the dispatcher last took them
        self._arrived: set[int] = set()
        self.changed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._by_device)

    def get(self, device_id: int) -> Connection | None:
        """The device's connection; a UDP peer only if heard from within ``UDP_FRESH_S``."""
        conn = self._by_device.get(device_id)
        if (
            conn is not None
            and conn.transport == "udp"
            and time.monotonic() - conn.seen > UDP_FRESH_S
        ):
            return None
        return conn

    def attach(self, conn: Connection) -> None:
        old = self._by_device.get(conn.device_id)
        if old is conn:
            return
        if conn.transport == "udp":
            if old is not None and old.transport == "udp":
                old.write = conn.write  # the same device from its newest address
                old.session = conn.session
                old.seen = conn.seen
                return
            if self._udp >= self._udp_limit:
                return  # commands to it wait for a TCP connection or expire
            self._udp += 1
        if old is not None and old.transport == "udp":
            self._udp -= 1
        self._by_device[conn.device_id] = conn
        metrics.command_connections.set(len(self._by_device))
        self._arrived.add(conn.device_id)
        self.changed.set()

    def detach(self, conn: Connection) -> None:
        """Forget ``conn`` if it is still the device's current one (a newer one stays)."""
        if self._by_device.get(conn.device_id) is conn:
            del self._by_device[conn.device_id]
            if conn.transport == "udp":
                self._udp -= 1
            metrics.command_connections.set(len(self._by_device))

    def take_arrivals(self) -> set[int]:
        arrived, self._arrived = self._arrived, set()
        self.changed.clear()
        return arrived
