"""Spherical geodesy on numpy arrays: great-circle distance and a local projection.

The Earth is a sphere of the IUGG mean radius. Against the WGS84 ellipsoid this is
off by at most ~0.5 % of a distance: 5 m on a 1 km place, far below GPS noise at
the boundary, and it keeps the maths vectorisable and pole-safe.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["EARTH_RADIUS_M", "aeqd_forward", "haversine_m", "wrap_lon"]

#: IUGG mean Earth radius (R1), metres.
EARTH_RADIUS_M = 6_371_008.8

Floats = NDArray[np.float64]


def wrap_lon(lon: ArrayLike) -> Floats:
    """Longitudes folded into [-180, 180); values already there are returned exactly."""
    x = np.asarray(lon, dtype=np.float64)
    return np.asarray(np.where((x >= -180.0) & (x < 180.0), x, (x + 180.0) % 360.0 - 180.0))


def haversine_m(lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike) -> Floats:
    """Great-circle distance in metres between points given in degrees (broadcasts).

    The haversine form is well conditioned for the short distances geofencing cares
    about, and needs no special case at the poles or the antimeridian.
    """
    p1 = np.radians(lat1)
    p2 = np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(np.asarray(lon2, dtype=np.float64) - np.asarray(lon1, dtype=np.float64))
    h = np.sin(dp * 0.5) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl * 0.5) ** 2
    return np.asarray(2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0))))


def aeqd_forward(
    lat0: ArrayLike, lon0: ArrayLike, lat: ArrayLike, lon: ArrayLike
) -> tuple[Floats, Floats]:
    """Azimuthal equidistant projection centred on (lat0, lon0), in metres (broadcasts).

    Distances and bearings from the centre are exact on the sphere; a place of a few
    kilometres is distorted by well under a metre. It has no trouble at the poles or
    across the antimeridian, which is why places are measured in it.
    """
    p0 = np.radians(lat0)
    p = np.radians(lat)
    dl = np.radians(np.asarray(lon, dtype=np.float64) - np.asarray(lon0, dtype=np.float64))
    sin_p0, cos_p0 = np.sin(p0), np.cos(p0)
    sin_p, cos_p = np.sin(p), np.cos(p)
    cos_dl = np.cos(dl)
    h = np.sin((p - p0) * 0.5) ** 2 + cos_p0 * cos_p * np.sin(dl * 0.5) ** 2
    c = 2.0 * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))  # central angle
    sin_c = np.sin(c)
    k = np.where(c < 1e-9, 1.0, c / np.where(c < 1e-9, 1.0, sin_c))
    x = EARTH_RADIUS_M * k * cos_p * np.sin(dl)
    y = EARTH_RADIUS_M * k * (cos_p0 * sin_p - sin_p0 * cos_p * cos_dl)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
