"""Auto-detection of a TCP stream's protocol from its first bytes.

Every registered spec that runs over TCP and has a ``detect`` function takes part, so
protocols that land later join without a change here. ``AutoSession`` buffers up to
``MAX_PROBE`` bytes until exactly one protocol says YES (the first in registry order wins
a tie), then hands the buffered bytes to that protocol's session and delegates to it.
Bytes that no protocol can claim are a fatal ``Rejected(Malformed)``.
"""

from __future__ import annotations

from protocols import registry
from protocols.base import Detection, ProtocolSpec, Session
from protocols.errors import Malformed
from protocols.model import Message, Rejected

#: most bytes held while deciding (a GT06 login is 18 bytes, a Teltonika IMEI 17)
MAX_PROBE = 64


def tcp_detectors() -> list[ProtocolSpec]:
    """The specs that can be auto-detected on a TCP stream."""
    return [s for s in registry.all_specs() if "tcp" in s.transports and s.detect is not None]


def detect(head: bytes, specs: list[ProtocolSpec] | None = None) -> ProtocolSpec | Detection:
    """The spec these first bytes belong to, ``Detection.MORE`` or ``Detection.NO``."""
    more = False
    for spec in tcp_detectors() if specs is None else specs:
        assert spec.detect is not None
        verdict = spec.detect(head)
        if verdict is Detection.YES:
            return spec
        more = more or verdict is Detection.MORE
    return Detection.MORE if more else Detection.NO


class AutoSession:
    """A session that detects its protocol, then behaves as that protocol's session."""

    __slots__ = ("_device_key", "_head", "_inner", "_specs", "failed", "state")

    def __init__(self, device_key: str | None = None) -> None:
        self._device_key = device_key
        self._head = b""
        self._inner: Session | None = None
        self._specs = tcp_detectors()
        self.failed = False

    @property
    def protocol(self) -> str:
        return self._inner.protocol if self._inner is not None else "auto"

    @property
    def device_key(self) -> str | None:
        return self._inner.device_key if self._inner is not None else self._device_key

    @property
    def buffered(self) -> int:
        return self._inner.buffered if self._inner is not None else len(self._head)

    @property
    def values(self) -> dict[str, object]:
        """The detected protocol's session values (empty before detection)."""
        return self._inner.state.values if self._inner is not None else {}

    @property
    def skipped(self) -> int:
        return self._inner.skipped if self._inner is not None else 0

    def receive(self, data: bytes) -> list[Message]:
        if self._inner is not None:
            out = self._inner.receive(data)
            self.failed = self._inner.failed
            return out
        if self.failed:
            return []
        head = self._head + data
        verdict = detect(head[:MAX_PROBE], self._specs)
        if isinstance(verdict, ProtocolSpec):
            self._head = b""
            self._inner = verdict.new_session("tcp", self._device_key)
            out = self._inner.receive(head)
            self.failed = self._inner.failed
            return out
        if verdict is Detection.MORE and len(head) < MAX_PROBE:
            self._head = head
            return []
        self._head = b""
        self.failed = True
        why = "no protocol claims" if verdict is Detection.NO else "undecided after"
        return [
            Rejected(
                error=Malformed(
                    f"{why} the first {min(len(head), MAX_PROBE)} bytes",
                    protocol="auto",
                    data=head,
                    fatal=True,
                )
            )
        ]


def new_auto_session(device_key: str | None = None) -> AutoSession:
    return AutoSession(device_key)
