"""The unit that moves down the chain: one batch of envelopes and what each stage found.

Each stage is handed the batch, reads what it needs from it and returns its result on it:
``filters`` fills ``rows`` and ``accepted``; ``geofence`` adds events and state rows to
``rows`` and sets ``geofence``; ``commit`` sets ``result`` (what was written, what was
refused and dead-lettered); ``deliver`` releases the acknowledgements and publishes alerts.
No stage keeps a batch's results for a later callback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from entitlements import Snapshot
from protocols.model import Position

from ..store import writer
from .intake import Envelope

if TYPE_CHECKING:
    from geofence import Evaluation


#: where a row came from: (index of its envelope in the batch, index of the item in it);
#: a plain tuple, one per row on the hot path
Origin = tuple[int, int]


@dataclass(slots=True)
class GeofenceOutcome:
    """What the geofence stage found in a batch, applied after its commit."""

    evaluation: Evaluation | None
    #: the newest accepted fix per device in the batch, for the live view
    live: dict[int, Position]


@dataclass(slots=True)
class Batch:
    envelopes: Sequence[Envelope]
    now: datetime
    #: the entitlement snapshot this batch is decided with (taken when it was formed)
    snapshot: Snapshot | None = None
    rows: writer.Batch = field(default_factory=writer.Batch)
    #: the positions the filters kept, (device id, position), in ``rows.positions`` order
    accepted: list[tuple[int, Position]] = field(default_factory=list)
    #: per row of ``rows.positions`` / device-alarm row of ``rows.events``: its origin
    position_origins: list[Origin] = field(default_factory=list)
    event_origins: list[Origin] = field(default_factory=list)
    geofence: GeofenceOutcome | None = None
    result: writer.WriteResult | None = None

    def raw_of(self, kind: str, index: int) -> tuple[bytes | None, str | None]:
        """The raw read and protocol a refused row came from (None when not known)."""
        origins = self.position_origins if kind == "position" else self.event_origins
        if index >= len(origins):
            return None, None
        envelope_index, item = origins[index]
        envelope = self.envelopes[envelope_index]
        return envelope.raw_of(kind, item), envelope.protocol or None
