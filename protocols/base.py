"""The shape every protocol module shares: a framer, a frame decoder, a session, a spec.

A protocol module exports one ``ProtocolSpec``. The gateway only ever calls
``spec.new_session(...)`` and ``session.receive(data)``; nothing here does I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeAlias

from .errors import ProtocolError
from .model import Message, Rejected

Transport: TypeAlias = Literal["tcp", "udp", "mqtt", "http"]
#: a tag (a tracker: counts against the plan's tag limit) or a phone
DeviceKind: TypeAlias = Literal["tag", "phone"]


class Detection(enum.Enum):
    """What the first bytes of a stream say about a protocol."""

    YES = "yes"  #: these bytes are this protocol's
    NO = "no"  #: they cannot be
    MORE = "more"  #: too few bytes to tell


class Framer(Protocol):
    """Stream bytes in, whole frames out. Bounded: raises ``FrameTooLarge`` past its maximum."""

    def feed(self, data: bytes) -> list[bytes]: ...

    @property
    def buffered(self) -> int:
        """Bytes held waiting for the rest of a frame."""
        ...

    @property
    def skipped(self) -> int:
        """Garbage bytes skipped so far while resynchronising."""
        ...


@dataclass(slots=True)
class SessionState:
    """Per-connection protocol state: who the device is, and what the protocol remembers."""

    transport: Transport
    device_key: str | None = None
    #: protocol-specific values (handshake done, codec seen, serial counters ...)
    values: dict[str, object] = field(default_factory=dict)


#: Decodes one whole frame in a session's state; raises only ``ProtocolError``.
FrameDecoder: TypeAlias = Callable[[bytes, SessionState], list[Message]]


class Session:
    """One device connection (or one UDP peer, one HTTP request, one MQTT topic).

    ``receive`` returns messages in order: positions, events, replies and ``Rejected`` items
    for frames that could not be used. A fatal rejection fails the session: ``failed`` turns
    True and later calls return nothing (the connection must be closed).
    """

    __slots__ = ("_decode", "_framer", "failed", "protocol", "state")

    def __init__(
        self, protocol: str, framer: Framer, decode: FrameDecoder, state: SessionState
    ) -> None:
        self.protocol = protocol
        self._framer = framer
        self._decode = decode
        self.state = state
        self.failed = False

    @property
    def device_key(self) -> str | None:
        return self.state.device_key

    @property
    def buffered(self) -> int:
        return self._framer.buffered

    @property
    def values(self) -> dict[str, object]:
        """What the protocol remembers of this connection (``state.values``)."""
        return self.state.values

    @property
    def skipped(self) -> int:
        """Garbage bytes the framer has skipped so far (the listener bounds them)."""
        return self._framer.skipped

    def receive(self, data: bytes) -> list[Message]:
        if self.failed:
            return []
        out: list[Message] = []
        try:
            frames = self._framer.feed(data)
        except ProtocolError as exc:
            self.failed = self.failed or exc.fatal
            return [Rejected(error=exc)]
        decode = self._decode
        state = self.state
        for frame in frames:
            try:
                out.extend(decode(frame, state))
            except ProtocolError as exc:
                out.append(Rejected(error=exc))
                if exc.fatal:
                    self.failed = True
                    break
        return out


class SingleFrame:
    """The framer for transports that deliver whole messages (UDP datagram, HTTP body, MQTT
    payload): each ``feed`` is one frame, bounded by ``max_size``."""

    __slots__ = ("max_size", "protocol")

    def __init__(self, protocol: str, max_size: int) -> None:
        self.protocol = protocol
        self.max_size = max_size

    def feed(self, data: bytes) -> list[bytes]:
        from .errors import FrameTooLarge

        if len(data) > self.max_size:
            raise FrameTooLarge(
                f"message of {len(data)} bytes exceeds {self.max_size}",
                protocol=self.protocol,
                data=data,
                fatal=False,
            )
        return [data] if data else []

    @property
    def buffered(self) -> int:
        return 0

    @property
    def skipped(self) -> int:
        return 0


@dataclass(frozen=True, slots=True)
class ProtocolSpec:
    """What the gateway and the registry know of a protocol."""

    name: str
    #: the TCP (or UDP) port trackers in the field are configured for; None for HTTP/MQTT-only
    default_port: int | None
    transports: frozenset[Transport]
    #: ``new_session(transport, device_key)`` -> a fresh session
    new_session: Callable[[Transport, str | None], Session]
    #: recognises the first bytes of a TCP stream (None: not auto-detectable)
    detect: Callable[[bytes], Detection] | None = None
    #: what its devices are (identity: the plan's tag limit counts tags)
    kind: DeviceKind = "tag"
    #: the MQTT topic its devices publish to, ``+`` for the levels that name the device
    #: (``owntracks/+/+`` -> device ``<user>/<device>``); None: not over MQTT
    mqtt_topic: str | None = None
    #: the path of its HTTP route on the API port (None: none, or its own port)
    http_path: str | None = None
    #: other names the command line accepts for it (``msgpack``)
    aliases: tuple[str, ...] = ()

    @property
    def port_keys(self) -> dict[Transport, str]:
        """The ``[ports]`` settings key of each transport it listens on with a port of its
        own: ``tcp`` -> its name, ``udp`` -> ``<name>_udp`` beside a TCP port, an HTTP-only
        protocol with a default port -> its name."""
        if self.default_port is None:
            return {}
        keys: dict[Transport, str] = {}
        if "tcp" in self.transports:
            keys["tcp"] = self.name
            if "udp" in self.transports:
                keys["udp"] = f"{self.name}_udp"
        elif "udp" in self.transports:
            keys["udp"] = self.name
        elif "http" in self.transports:
            keys["http"] = self.name
        return keys
