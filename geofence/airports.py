"""Airports as geofence zones, from the ``airportsdata`` package.

Every airport with an IATA code in ``airportsdata`` (about 7,900, from mid-size
fields to the largest hubs) becomes a circle around its reference point, id = its
IATA code. ``airportsdata`` carries no size, so one radius serves all:
:data:`DEFAULT_AIRPORT_RADIUS_M` = 3 km, which covers the terminals, aprons and most
runways of a large airport (Heathrow's runways are 3.9 km long, centred on the
reference point) without reaching far into the town next door. Override it per
airport with ``radius_overrides`` (e.g. ``{"DFW": 6000}`` for a very large one).

Airport zones run the same state machine as user places; their transitions are
``airport_arrival`` / ``airport_departure``, plus ``flight_landed`` (see
:mod:`geofence.engine`). Which devices are checked against them is decided per batch
by the caller (``airport_devices``: plans with airport alerts).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Collection, Mapping

import airportsdata

from .index import PlaceIndex
from .places import Place

__all__ = ["DEFAULT_AIRPORT_RADIUS_M", "airport_index", "airport_name", "airport_places"]

#: Radius of every airport zone unless overridden, metres.
DEFAULT_AIRPORT_RADIUS_M = 3000.0


@functools.cache
def _airports() -> dict[str, airportsdata.Airport]:
    return {
        code: a
        for code, a in airportsdata.load("IATA").items()
        if code and math.isfinite(a["lat"]) and math.isfinite(a["lon"])
    }


def airport_name(code: str) -> str | None:
    """The airport's name, e.g. ``"London Heathrow Airport"`` for ``"LHR"``."""
    airport = _airports().get(code)
    return airport["name"] if airport else None


def airport_places(
    *,
    radius_m: float = DEFAULT_AIRPORT_RADIUS_M,
    radius_overrides: Mapping[str, float] | None = None,
    codes: Collection[str] | None = None,
) -> list[Place]:
    """One circle per IATA airport (or only ``codes``), sorted by code."""
    overrides = radius_overrides or {}
    airports = _airports()
    unknown = set(overrides).union(codes or ()) - set(airports)
    if unknown:
        raise ValueError(f"unknown IATA codes: {sorted(unknown)!r}")
    wanted = sorted(airports if codes is None else codes)
    return [
        Place.circle(
            code,
            airports[code]["lat"],
            airports[code]["lon"],
            overrides.get(code, radius_m),
            airport=True,
        )
        for code in wanted
    ]


@functools.cache
def _default_index() -> PlaceIndex:
    return PlaceIndex(airport_places())


def airport_index(
    *,
    radius_m: float = DEFAULT_AIRPORT_RADIUS_M,
    radius_overrides: Mapping[str, float] | None = None,
) -> PlaceIndex:
    """An index of all IATA airports (the default one is built once and shared)."""
    if radius_m == DEFAULT_AIRPORT_RADIUS_M and not radius_overrides:
        return _default_index()
    return PlaceIndex(airport_places(radius_m=radius_m, radius_overrides=radius_overrides))
