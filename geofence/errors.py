"""Errors raised by :mod:`geofence`: one small taxonomy.

::

    GeofenceError                  base of everything this package raises on bad input
     └── InvalidGeometry           a place cannot be built (bad GeoJSON, radius, ring, ...)

Misuse by the caller (arrays of different lengths, a naive datetime) raises
``ValueError`` / ``TypeError`` instead: that is our bug, not bad data.
"""

from __future__ import annotations

__all__ = ["GeofenceError", "InvalidGeometry"]


class GeofenceError(Exception):
    """Base class of the data errors raised by :mod:`geofence`."""


class InvalidGeometry(GeofenceError):
    """A place's geometry is unusable.

    Attributes:
        where: what is at fault, e.g. ``"feature 3 (id 'home')"``; empty when unknown.
        reason: what is wrong with it, lowercase, e.g. ``"radius_m must be > 0, got -5"``.
    """

    def __init__(self, reason: str, *, where: str = "") -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: {reason}" if where else reason)
