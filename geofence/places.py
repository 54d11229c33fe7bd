"""Places: circles and polygons (with holes), and their GeoJSON form.

A :class:`Place` is a value. Circles are a centre and a radius on the sphere.
Polygons are given in WGS84 longitude/latitude like GeoJSON (RFC 7946), and measured
in a local azimuthal-equidistant projection centred on the place (see
:mod:`geofence._geodesy`): its edges are straight lines in that projection, which for
places of a few kilometres is the same as straight lines on a map. A polygon may
cross the antimeridian either way GeoJSON writers produce it: split into a
MultiPolygon at ±180°, or as one ring whose longitudes run past 180°.

Every place has two derived lengths the engine needs:

- ``reach_m``: radius of a circle around (lat, lon) that holds the whole place (the
  spatial prefilter indexes this circle);
- ``size_m``: radius of the largest circle that fits inside the place (for a circle,
  its radius). A fix whose accuracy is larger than this cannot say anything useful
  about the place and is ignored for its transitions.

GeoJSON accepted by :func:`places_from_geojson`: a FeatureCollection or a single
Feature, each feature one of

- ``Point`` with ``properties.radius_m`` (> 0, up to 1,000 km): a circle;
- ``Polygon`` / ``MultiPolygon``: outer rings and holes.

``properties.id`` (else the feature's own ``id``) names the place; ids must be unique.
``properties.confirm_enter_fixes`` / ``confirm_enter_s`` / ``confirm_exit_fixes`` /
``confirm_exit_s`` (optional) override the engine's confirmation rule for this place
(:mod:`geofence.confirm`). Anything else raises
:class:`~geofence.errors.InvalidGeometry` naming the feature.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from ._geodesy import aeqd_forward, wrap_lon
from .confirm import PlaceConfirm
from .errors import InvalidGeometry

__all__ = ["MAX_RADIUS_M", "Place", "PlaceKind", "place_from_feature", "places_from_geojson"]

#: Largest circle radius accepted; bigger "places" are a data error, not a geofence.
MAX_RADIUS_M = 1_000_000.0


class PlaceKind(enum.StrEnum):
    """What a place's geometry is."""

    CIRCLE = "circle"
    POLYGON = "polygon"


@dataclass(frozen=True, slots=True, kw_only=True)
class Place:
    """One geofence zone.

    Build with :meth:`circle` or :meth:`polygon` rather than directly.

    Attributes:
        id: the place's id (a user place's id, or an airport's IATA code).
        kind: circle or polygon.
        lat, lon: the centre of a circle; for a polygon the origin of its projection.
        radius_m: a circle's radius; ``None`` for a polygon.
        shape: a polygon as given, in degrees (unwrapped across the antimeridian);
            ``None`` for a circle.
        airport: an airport zone (its transitions are airport_arrival/departure).
        local: the polygon in metres in its own projection (prepared); ``None`` for a circle.
        local_boundary: the rings of ``local`` (prepared), for distances to the edge.
        reach_m: radius around (lat, lon) of a circle holding the whole place.
        size_m: radius of the largest circle inside the place.
        confirm: this place's overrides of the confirmation rule; ``None``: the
            engine's (:class:`~geofence.confirm.PlaceConfirm`).
    """

    id: str
    kind: PlaceKind
    lat: float
    lon: float
    radius_m: float | None = None
    shape: BaseGeometry | None = None
    airport: bool = False
    local: BaseGeometry | None = field(default=None, compare=False, repr=False)
    local_boundary: BaseGeometry | None = field(default=None, compare=False, repr=False)
    reach_m: float = field(default=0.0, compare=False)
    size_m: float = field(default=0.0, compare=False)
    confirm: PlaceConfirm | None = None

    @classmethod
    def circle(
        cls, place_id: str, lat: float, lon: float, radius_m: float, *, airport: bool = False
    ) -> Place:
        """A circle of ``radius_m`` metres around (lat, lon) degrees."""
        _check_lat_lon(lat, lon)
        if not (isinstance(radius_m, int | float) and not isinstance(radius_m, bool)):
            raise InvalidGeometry(f"radius_m must be a number, got {radius_m!r}")
        if not (math.isfinite(radius_m) and 0.0 < radius_m <= MAX_RADIUS_M):
            raise InvalidGeometry(f"radius_m must be > 0 and <= {MAX_RADIUS_M:g}, got {radius_m!r}")
        r = float(radius_m)
        return cls(
            id=place_id,
            kind=PlaceKind.CIRCLE,
            lat=float(lat),
            lon=float(wrap_lon(lon)),
            radius_m=r,
            airport=airport,
            reach_m=r,
            size_m=r,
        )

    @classmethod
    def polygon(cls, place_id: str, geometry: BaseGeometry) -> Place:
        """A Polygon or MultiPolygon in longitude/latitude degrees (holes allowed)."""
        if not isinstance(geometry, shapely.Polygon | shapely.MultiPolygon):
            raise InvalidGeometry(f"expected a Polygon or MultiPolygon, got {geometry.geom_type}")
        if geometry.is_empty:
            raise InvalidGeometry("polygon is empty")
        coords = shapely.get_coordinates(geometry)
        if not np.isfinite(coords).all():
            raise InvalidGeometry("polygon has a non-finite coordinate")
        if (np.abs(coords[:, 1]) > 90.0).any():
            raise InvalidGeometry("polygon has a latitude outside [-90, 90]")
        ref = float(coords[0, 0])
        unwrapped = shapely.transform(geometry, lambda xy: _unwrap(xy, ref))
        if isinstance(unwrapped, shapely.MultiPolygon) and not shapely.is_valid(unwrapped):
            # Parts split at the antimeridian share an edge once unwrapped: merge them.
            unwrapped = shapely.union_all(shapely.get_parts(unwrapped))
        if not shapely.is_valid(unwrapped):
            raise InvalidGeometry(f"invalid polygon: {shapely.is_valid_reason(unwrapped).lower()}")
        centre = unwrapped.centroid
        lat0, lon0 = float(centre.y), float(wrap_lon(centre.x))

        def project(xy: NDArray[np.float64]) -> NDArray[np.float64]:
            x, y = aeqd_forward(lat0, lon0, xy[:, 1], xy[:, 0])
            return np.column_stack([x, y])

        local = shapely.transform(unwrapped, project)
        if not shapely.is_valid(local) or local.area <= 0.0:
            raise InvalidGeometry("polygon degenerates when projected (too large or zero area)")
        reach = float(np.hypot(*shapely.get_coordinates(local).T).max())
        if reach > MAX_RADIUS_M:
            raise InvalidGeometry(f"polygon is larger than {MAX_RADIUS_M:g} m across")
        size = float(shapely.length(shapely.maximum_inscribed_circle(local, reach / 1000.0)))
        boundary = shapely.boundary(local)
        shapely.prepare(local)
        shapely.prepare(boundary)
        return cls(
            id=place_id,
            kind=PlaceKind.POLYGON,
            lat=lat0,
            lon=lon0,
            shape=unwrapped,
            local=local,
            local_boundary=boundary,
            reach_m=reach,
            size_m=size,
        )


def _check_lat_lon(lat: object, lon: object) -> None:
    for name, value, limit in (("lat", lat, 90.0), ("lon", lon, 540.0)):
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise InvalidGeometry(f"{name} must be a number, got {value!r}")
        if not (math.isfinite(value) and abs(value) <= limit):
            raise InvalidGeometry(f"{name} out of range: {value!r}")


def _unwrap(xy: NDArray[np.float64], ref: float) -> NDArray[np.float64]:
    out = xy.copy()
    out[:, 0] = ref + wrap_lon(xy[:, 0] - ref)
    return out


def places_from_geojson(obj: Mapping[str, Any]) -> list[Place]:
    """Places of a GeoJSON FeatureCollection (or one Feature), in file order.

    Raises:
        InvalidGeometry: with ``where`` naming the feature (index and id) at fault.
    """
    kind = obj.get("type") if isinstance(obj, Mapping) else None
    if kind == "Feature":
        features: Sequence[Any] = [obj]
    elif kind == "FeatureCollection":
        raw = obj.get("features")
        if not isinstance(raw, list):
            raise InvalidGeometry("'features' must be a list", where="FeatureCollection")
        features = raw
    else:
        raise InvalidGeometry(f"expected a FeatureCollection or Feature, got type {kind!r}")
    places = [place_from_feature(f, index=i) for i, f in enumerate(features)]
    _check_unique(places)
    return places


def place_from_feature(feature: Any, *, index: int = 0) -> Place:
    """One GeoJSON Feature as a place; ``index`` only names it in errors."""
    where = f"feature {index}"
    if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
        raise InvalidGeometry("not a GeoJSON Feature", where=where)
    props = feature.get("properties") or {}
    if not isinstance(props, Mapping):
        raise InvalidGeometry("'properties' must be an object", where=where)
    place_id = props.get("id", feature.get("id"))
    if isinstance(place_id, bool) or not isinstance(place_id, str | int) or place_id == "":
        raise InvalidGeometry(
            f"properties.id must be a string or integer, got {place_id!r}", where=where
        )
    where = f"feature {index} (id {str(place_id)!r})"
    geometry = feature.get("geometry")
    if not isinstance(geometry, Mapping):
        raise InvalidGeometry("missing geometry", where=where)
    try:
        place = _place_from_geometry(str(place_id), geometry, props)
        confirm = PlaceConfirm.from_properties(props)
    except InvalidGeometry as exc:
        raise InvalidGeometry(exc.reason, where=where) from exc
    return place if confirm is None else replace(place, confirm=confirm)


def _place_from_geometry(
    place_id: str, geometry: Mapping[str, Any], props: Mapping[str, Any]
) -> Place:
    gtype = geometry.get("type")
    coords = geometry.get("coordinates")
    if gtype == "Point":
        position = _position(coords, "Point coordinates")
        if "radius_m" not in props:
            raise InvalidGeometry("a Point place needs properties.radius_m")
        return Place.circle(place_id, position[1], position[0], props["radius_m"])
    if gtype == "Polygon":
        return Place.polygon(place_id, shapely.Polygon(*_rings(coords, "Polygon")))
    if gtype == "MultiPolygon":
        if not isinstance(coords, list) or not coords:
            raise InvalidGeometry("MultiPolygon coordinates must be a non-empty list of polygons")
        parts = [
            shapely.Polygon(*_rings(p, f"MultiPolygon part {i}")) for i, p in enumerate(coords)
        ]
        return Place.polygon(place_id, shapely.MultiPolygon(parts))
    raise InvalidGeometry(f"unsupported geometry type {gtype!r} (Point, Polygon or MultiPolygon)")


def _position(value: Any, what: str) -> tuple[float, float]:
    if (
        not isinstance(value, list | tuple)
        or len(value) not in (2, 3)
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        raise InvalidGeometry(f"{what} must be [lon, lat], got {value!r}")
    lon, lat = float(value[0]), float(value[1])
    _check_lat_lon(lat, lon)
    return lon, lat


def _rings(
    value: Any, what: str
) -> tuple[list[tuple[float, float]], list[list[tuple[float, float]]]]:
    if not isinstance(value, list) or not value:
        raise InvalidGeometry(f"{what} coordinates must be a non-empty list of rings")
    rings: list[list[tuple[float, float]]] = []
    for r, ring in enumerate(value):
        name = f"{what} {'outer ring' if r == 0 else f'hole {r}'}"
        if not isinstance(ring, list) or len(ring) < 4:
            raise InvalidGeometry(f"{name} needs at least 4 positions")
        points = [_position(p, f"{name} position {i}") for i, p in enumerate(ring)]
        if points[0] != points[-1]:
            raise InvalidGeometry(f"{name} is not closed (first position != last)")
        rings.append(points)
    return rings[0], rings[1:]


def _check_unique(places: Iterable[Place]) -> None:
    seen: set[str] = set()
    for i, place in enumerate(places):
        if place.id in seen:
            raise InvalidGeometry(f"duplicate place id {place.id!r}", where=f"feature {i}")
        seen.add(place.id)
