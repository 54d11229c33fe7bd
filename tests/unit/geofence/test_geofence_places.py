"""Places from GeoJSON, their derived sizes, the prefilter and edge distances."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from geofence import InvalidGeometry, Place, PlaceIndex, PlaceKind, places_from_geojson

from .geofence_helpers import offset


def feature(geometry: dict[str, Any], **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": props, "geometry": geometry}


def box(lon0: float, lat0: float, lon1: float, lat1: float) -> list[list[float]]:
    return [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]


def test_feature_collection_gives_circles_polygons_and_multipolygons() -> None:
    places = places_from_geojson(
        {
            "type": "FeatureCollection",
            "features": [
                feature({"type": "Point", "coordinates": [2.35, 48.85]}, id="home", radius_m=120),
                feature({"type": "Polygon", "coordinates": [box(2.0, 48.0, 2.01, 48.01)]}, id=7),
                feature(
                    {
                        "type": "MultiPolygon",
                        "coordinates": [[box(3, 45, 3.01, 45.01)], [box(3.02, 45, 3.03, 45.01)]],
                    },
                    id="two",
                ),
            ],
        }
    )
    assert [(p.id, p.kind) for p in places] == [
        ("home", PlaceKind.CIRCLE),
        ("7", PlaceKind.POLYGON),
        ("two", PlaceKind.POLYGON),
    ]
    home, square, _ = places
    assert (home.lat, home.lon, home.radius_m, home.size_m) == (48.85, 2.35, 120.0, 120.0)
    # 0.01° x 0.01° at 48°N is ~1112 m x 744 m: the inscribed circle is half the width.
    assert square.size_m == pytest.approx(372, rel=0.01)
    assert square.reach_m == pytest.approx(0.5 * np.hypot(1112, 744), rel=0.01)


@pytest.mark.parametrize(
    ("feat", "message"),
    [
        (feature({"type": "Point", "coordinates": [2, 48]}, id="a"), "needs properties.radius_m"),
        (
            feature({"type": "Point", "coordinates": [2, 48]}, id="a", radius_m=-5),
            "radius_m must be > 0",
        ),
        (
            feature({"type": "Point", "coordinates": [2, 95]}, id="a", radius_m=5),
            "lat out of range",
        ),
        (feature({"type": "Point", "coordinates": [2, 48]}, radius_m=5), "properties.id must be"),
        (
            feature({"type": "LineString", "coordinates": [[2, 48], [3, 48]]}, id="a"),
            "unsupported geometry",
        ),
        (
            feature(
                {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0.5]]]}, id="a"
            ),
            "outer ring is not closed",
        ),
        (
            feature({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}, id="a"),
            "at least 4 positions",
        ),
        (
            feature(
                {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},
                id="a",
            ),
            "self-intersection",
        ),
        (
            feature(
                {"type": "Polygon", "coordinates": [box(0, 0, 1, 1), [[0, 0], ["x", 1]]]}, id="a"
            ),
            "hole 1",
        ),
    ],
)
def test_bad_features_name_the_feature_and_the_problem(feat: dict[str, Any], message: str) -> None:
    good = feature({"type": "Point", "coordinates": [2, 48]}, id="ok", radius_m=50)
    with pytest.raises(InvalidGeometry, match=message) as info:
        places_from_geojson({"type": "FeatureCollection", "features": [good, feat]})
    assert info.value.where.startswith("feature 1")


def test_duplicate_ids_and_non_collections_are_rejected() -> None:
    point = feature({"type": "Point", "coordinates": [2, 48]}, id="a", radius_m=5)
    with pytest.raises(InvalidGeometry, match="duplicate place id 'a'"):
        places_from_geojson({"type": "FeatureCollection", "features": [point, point]})
    with pytest.raises(InvalidGeometry, match="expected a FeatureCollection"):
        places_from_geojson({"type": "Point", "coordinates": [2, 48]})


def test_antimeridian_polygon_is_the_same_split_or_unwrapped() -> None:
    crossing = Place.polygon("x", _shape(box(179.99, -16.51, 180.01, -16.49)))
    split = places_from_geojson(
        feature(
            {
                "type": "MultiPolygon",
                "coordinates": [
                    [box(179.99, -16.51, 180.0, -16.49)],
                    [box(-180.0, -16.51, -179.99, -16.49)],
                ],
            },
            id="x",
        )
    )[0]
    assert crossing.local is not None
    assert split.local is not None
    assert split.local.area == pytest.approx(crossing.local.area, rel=1e-6)
    assert split.local.area == pytest.approx(2134 * 2224, rel=0.01)  # ~2.1 km x 2.2 km
    index = PlaceIndex([split])
    lat, lon = np.array([-16.5, -16.5, -16.5]), np.array([-179.995, 179.995, -179.98])
    fixes, _places, _ = index.candidates(lat, lon)
    assert fixes.tolist() == [0, 1]
    d = index.signed_distance_m(np.zeros(3, dtype=np.intp), lat, lon)
    assert d[0] == pytest.approx(-533, abs=5)  # 0.005° of longitude from the east edge
    assert d[2] == pytest.approx(1066, abs=5)


def test_prefilter_finds_every_fix_inside_every_place() -> None:
    rng = np.random.default_rng(5)
    centres = rng.uniform([-89.9, -180], [89.9, 180], size=(2000, 2))
    places = [
        Place.circle(str(i), la, lo, float(r))
        for i, ((la, lo), r) in enumerate(zip(centres, rng.uniform(10, 50_000, 2000), strict=True))
    ]
    places.append(Place.circle("pole", 90.0, 0.0, 3000))
    index = PlaceIndex(places)
    # Fixes inside random places, at a random bearing and fraction of the radius.
    pick = rng.integers(0, len(places), 5000)
    frac = rng.uniform(0, 0.999, 5000)
    bearing = rng.uniform(0, 2 * np.pi, 5000)
    lat, lon = np.empty(5000), np.empty(5000)
    for k, (p, f, b) in enumerate(zip(pick, frac, bearing, strict=True)):
        r = places[p].reach_m * f
        lat[k], lon[k] = offset(
            min(places[p].lat, 89.99), places[p].lon, r * np.cos(b), r * np.sin(b)
        )
    fixes, cand, _ = index.candidates(np.clip(lat, -90, 90), lon)
    found = set(zip(fixes.tolist(), cand.tolist(), strict=True))
    d = index.signed_distance_m(pick, np.clip(lat, -90, 90), lon)
    inside = np.flatnonzero(d < 0)
    assert len(inside) > 4500
    assert all((int(k), int(pick[k])) in found for k in inside)


def _shape(ring: list[list[float]]) -> Any:
    import shapely

    return shapely.Polygon(ring)
