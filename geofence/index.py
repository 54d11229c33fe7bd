"""The spatial prefilter: which (fix, place) pairs are worth measuring, for a whole batch.

:class:`PlaceIndex` is an immutable set of places plus a hierarchical lat/lon grid.
Each place is reduced to its *reach circle* (a circle around its centre that holds it
all) and registered in the cells its bounding box covers, on the grid level whose
cells are at least as tall as the box (cell edge ``360 / 2**m`` degrees, m = 0..20, so
from the whole world down to ~38 m). A place near a pole, whose box is wide in
longitude, is moved to a coarser level until it covers at most 64 columns; a box
crossing the antimeridian simply wraps round the column index.

A query for N fixes is one ``searchsorted`` per populated level plus a gather: no
Python loop over fixes or places. Survivors are then checked exactly against the
reach circle with a vectorised haversine. A fix that lies inside a place always
comes out as a candidate of it (the boxes are padded outward), which is all the
engine needs: fixes outside every place change nothing unless the device was
already inside or dwelling, and those pairs come from the state, not the index.

The index also measures: :meth:`PlaceIndex.signed_distance_m` gives the distance to
a place's edge, negative inside (haversine for circles; shapely 2's vectorised
``distance`` and ``contains_xy`` in the place's own projection for polygons).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import shapely
from numpy.typing import NDArray

from ._geodesy import EARTH_RADIUS_M, aeqd_forward, haversine_m
from .places import Place, PlaceKind

__all__ = ["PlaceIndex"]

_MAX_LEVEL = 20
_MAX_COLUMNS = 64
_PAD_M = 1.0  # outward padding of every reach circle, metres
_RAD_TO_DEG = 180.0 / math.pi

Ints = NDArray[np.intp]
Floats = NDArray[np.float64]


def expand_ranges(starts: Ints, counts: Ints) -> Ints:
    """``concatenate([arange(s, s + c) for s, c in zip(starts, counts)])``, vectorised."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.intp)
    ends = np.cumsum(counts)
    shift = np.repeat(starts - (ends - counts), counts)
    return np.asarray(np.arange(total, dtype=np.intp) + shift, dtype=np.intp)


class _Level:
    """One grid level: sorted cell keys and, per key, a run of place indices."""

    __slots__ = ("cell", "counts", "keys", "ncols", "nrows", "places", "starts")

    def __init__(self, m: int, rows: tuple[Ints, Ints], cols: tuple[Ints, Ints], idx: Ints):
        self.cell = 360.0 / 2**m
        self.ncols = 2**m
        self.nrows = max(1, 2 ** (m - 1))
        r0, r1 = rows
        c0, c1 = cols
        nr = r1 - r0 + 1
        nc = c1 - c0 + 1
        counts = nr * nc
        owner = np.repeat(np.arange(len(idx), dtype=np.intp), counts)
        k = np.arange(int(counts.sum()), dtype=np.intp) - np.repeat(
            np.cumsum(counts) - counts, counts
        )
        row = r0[owner] + k // nc[owner]
        col = (c0[owner] + k % nc[owner]) % self.ncols
        key = row.astype(np.int64) * self.ncols + col
        order = np.argsort(key, kind="stable")
        key = key[order]
        self.places = idx[owner[order]]
        self.keys, starts, counts_ = np.unique(key, return_index=True, return_counts=True)
        self.starts = starts.astype(np.intp)
        self.counts = counts_.astype(np.intp)

    def query(self, lat: Floats, lon: Floats) -> tuple[Ints, Ints]:
        row = np.clip(np.floor((lat + 90.0) / self.cell), 0, self.nrows - 1).astype(np.int64)
        col = np.floor((lon + 180.0) / self.cell).astype(np.int64) % self.ncols
        key = row * self.ncols + col
        pos = np.minimum(np.searchsorted(self.keys, key), len(self.keys) - 1)
        hit = np.flatnonzero(self.keys[pos] == key)
        if hit.size == 0:
            return hit, hit
        counts = self.counts[pos[hit]]
        fixes = np.repeat(hit, counts)
        return fixes, self.places[expand_ranges(self.starts[pos[hit]], counts)]


class PlaceIndex:
    """An immutable, indexed set of places (user places, or airports).

    Places are addressed by their position in :attr:`places`; :attr:`position` maps
    an id back. Build a new index when places change; building 100,000 places takes
    a few seconds for polygons (shapely prepares each), well under one for circles.
    """

    __slots__ = (
        "_levels",
        "airport",
        "boundary",
        "is_circle",
        "lat",
        "local",
        "lon",
        "places",
        "position",
        "radius_m",
        "reach_m",
        "size_m",
    )

    def __init__(self, places: Sequence[Place]) -> None:
        self.places: tuple[Place, ...] = tuple(places)
        self.position: dict[str, int] = {p.id: i for i, p in enumerate(self.places)}
        if len(self.position) != len(self.places):
            raise ValueError("place ids must be unique within an index")
        n = len(self.places)
        self.lat = np.array([p.lat for p in self.places], dtype=np.float64)
        self.lon = np.array([p.lon for p in self.places], dtype=np.float64)
        self.reach_m = np.array([p.reach_m for p in self.places], dtype=np.float64)
        self.size_m = np.array([p.size_m for p in self.places], dtype=np.float64)
        self.is_circle = np.array([p.kind is PlaceKind.CIRCLE for p in self.places], dtype=bool)
        self.radius_m = np.array([p.radius_m or np.nan for p in self.places], dtype=np.float64)
        self.airport = np.array([p.airport for p in self.places], dtype=bool)
        self.local = np.empty(n, dtype=object)
        self.boundary = np.empty(n, dtype=object)
        for i, p in enumerate(self.places):
            self.local[i] = p.local
            self.boundary[i] = p.local_boundary
        self._levels = self._build_levels()

    def __len__(self) -> int:
        return len(self.places)

    def __repr__(self) -> str:
        return f"<PlaceIndex {len(self)} places, {len(self._levels)} grid levels>"

    def _build_levels(self) -> list[_Level]:
        if not self.places:
            return []
        reach = (self.reach_m + _PAD_M) * (1.0 + 1e-6)
        ang = reach / EARTH_RADIUS_M
        dlat = ang * _RAD_TO_DEG
        lat_lo = np.maximum(self.lat - dlat, -90.0)
        lat_hi = np.minimum(self.lat + dlat, 90.0)
        ratio = np.sin(np.minimum(ang, math.pi / 2)) / np.cos(np.radians(self.lat))
        full = (lat_hi >= 90.0) | (lat_lo <= -90.0) | (ratio >= 1.0)
        dlon = np.where(full, 180.0, np.arcsin(np.minimum(ratio, 1.0)) * _RAD_TO_DEG)
        m_lat = np.floor(np.log2(360.0 / np.maximum(lat_hi - lat_lo, 1e-12)))
        m_lon = np.floor(np.log2(360.0 * (_MAX_COLUMNS - 1) / (2.0 * np.maximum(dlon, 1e-12))))
        m_lon = np.where(full, math.log2(_MAX_COLUMNS), m_lon)
        level = np.clip(np.minimum(m_lat, m_lon), 0, _MAX_LEVEL).astype(np.intp)
        levels = []
        for m in np.unique(level):
            idx = np.flatnonzero(level == m)
            cell = 360.0 / 2 ** int(m)
            ncols, nrows = 2 ** int(m), max(1, 2 ** (int(m) - 1))
            r0 = np.clip(np.floor((lat_lo[idx] + 90.0) / cell), 0, nrows - 1).astype(np.intp)
            r1 = np.clip(np.floor((lat_hi[idx] + 90.0) / cell), 0, nrows - 1).astype(np.intp)
            c0 = np.floor((self.lon[idx] - dlon[idx] + 180.0) / cell).astype(np.intp)
            c1 = np.floor((self.lon[idx] + dlon[idx] + 180.0) / cell).astype(np.intp)
            wide = full[idx] | (c1 - c0 + 1 >= ncols)
            c0 = np.where(wide, 0, c0)
            c1 = np.where(wide, ncols - 1, c1)
            levels.append(_Level(int(m), (r0, r1), (c0, c1), idx))
        return levels

    def candidates(self, lat: Floats, lon: Floats) -> tuple[Ints, Ints, Floats]:
        """Pairs (fix position, place position) with the fix within the place's reach.

        Also returns the great-circle distance from the fix to the place's centre.
        Every fix lying inside a place is among the pairs; most others are not.
        """
        parts = [level.query(lat, lon) for level in self._levels]
        if not parts:
            empty = np.zeros(0, dtype=np.intp)
            return empty, empty, np.zeros(0, dtype=np.float64)
        fixes = np.concatenate([f for f, _ in parts])
        places = np.concatenate([p for _, p in parts])
        dist = haversine_m(lat[fixes], lon[fixes], self.lat[places], self.lon[places])
        keep = dist <= self.reach_m[places] + _PAD_M
        return fixes[keep], places[keep], dist[keep]

    def signed_distance_m(self, places: Ints, lat: Floats, lon: Floats) -> Floats:
        """Distance from each point to the edge of the paired place; negative inside."""
        d = np.empty(len(places), dtype=np.float64)
        circ = self.is_circle[places]
        c = np.flatnonzero(circ)
        if c.size:
            pc = places[c]
            d[c] = haversine_m(lat[c], lon[c], self.lat[pc], self.lon[pc]) - self.radius_m[pc]
        g = np.flatnonzero(~circ)
        if g.size:
            pg = places[g]
            x, y = aeqd_forward(self.lat[pg], self.lon[pg], lat[g], lon[g])
            edge = shapely.distance(self.boundary[pg], shapely.points(x, y))
            inside = shapely.contains_xy(self.local[pg], x, y)
            d[g] = np.where(inside, -edge, edge)
        return d
