"""Geofence engine throughput: fixes/s for batches of 10,000 fixes, state machine included.

    PYTHONPATH=. .venv/bin/python bench/geofence_bench.py [--batches N]

Two cases: 100,000 places (circles of 50-300 m, one in ten a polygon) spread over
France, with fixes spread over the same country; and 100 places in one town with
fixes in that town. Each batch goes through ``geofence.evaluate`` and
``GeofenceState.apply``, 1,000 devices with 10 fixes each per batch, moving on
between batches. The baseline is the naive way, measured in the same run on a
subset and scaled: a Python loop over fixes asking shapely which prepared place
contains the point (STRtree query per fix). Prints figures; never fails on time.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import shapely

from geofence import Batch, GeofenceState, Place, PlaceIndex, Zones, evaluate

BATCH = 10_000
DEVICES = 1_000
T0_US = 1_714_000_000_000_000


def make_places(
    rng: np.random.Generator, n: int, box: tuple[float, float, float, float]
) -> list[Place]:
    lat0, lon0, lat1, lon1 = box
    lat = rng.uniform(lat0, lat1, n)
    lon = rng.uniform(lon0, lon1, n)
    radius = rng.uniform(50, 300, n)
    places = []
    for i in range(n):
        if i % 10 == 9:
            d = radius[i] / 111_000
            e = d / np.cos(np.radians(lat[i]))
            ring = [(lon[i] - e, lat[i] - d), (lon[i] + e, lat[i] - d), (lon[i], lat[i] + d)]
            places.append(Place.polygon(str(i), shapely.Polygon(ring)))
        else:
            places.append(Place.circle(str(i), float(lat[i]), float(lon[i]), float(radius[i])))
    return places


def make_batches(
    rng: np.random.Generator, count: int, box: tuple[float, float, float, float]
) -> list[Batch]:
    lat0, lon0, lat1, lon1 = box
    ids = tuple(f"dev{i}" for i in range(DEVICES))
    batches = []
    for b in range(count):
        device = np.repeat(np.arange(DEVICES, dtype=np.intp), BATCH // DEVICES)
        # Each device walks around a random spot for this batch: ~10 fixes within 200 m.
        centre_lat = rng.uniform(lat0, lat1, DEVICES)[device]
        centre_lon = rng.uniform(lon0, lon1, DEVICES)[device]
        batches.append(
            Batch(
                device_ids=ids,
                device=device,
                time_us=T0_US
                + (b * 600 + np.tile(np.arange(BATCH // DEVICES), DEVICES) * 30) * 1_000_000,
                lat=centre_lat + rng.normal(0, 0.001, BATCH),
                lon=centre_lon + rng.normal(0, 0.0015, BATCH),
                accuracy_m=np.where(rng.random(BATCH) < 0.2, np.nan, rng.uniform(5, 40, BATCH)),
            )
        )
    return batches


def engine_rate(zones: Zones, batches: list[Batch]) -> tuple[float, int]:
    state = GeofenceState()
    evaluate(batches[0], state, zones)  # warm-up
    transitions = 0
    start = time.perf_counter()
    for batch in batches:
        result = evaluate(batch, state, zones)
        state.apply(result)
        transitions += len(result.transitions)
    return len(batches) * BATCH / (time.perf_counter() - start), transitions


def naive_rate(places: list[Place], batch: Batch, n: int) -> float:
    """Per fix: STRtree of place shapes in degrees, then a prepared contains per hit."""
    shapes = [
        shapely.Point(p.lon, p.lat).buffer((p.radius_m or 0) / 111_000)
        if p.shape is None
        else p.shape
        for p in places
    ]
    tree = shapely.STRtree(shapes)
    for s in shapes:
        shapely.prepare(s)
    start = time.perf_counter()
    hits = 0
    for i in range(n):
        point = shapely.Point(batch.lon[i], batch.lat[i])
        for j in tree.query(point):
            hits += shapes[j].contains(point)
    return n / (time.perf_counter() - start)


def case(name: str, n_places: int, box: tuple[float, float, float, float], batches: int) -> None:
    rng = np.random.default_rng(42)
    t = time.perf_counter()
    places = make_places(rng, n_places, box)
    index = PlaceIndex(places)
    build = time.perf_counter() - t
    data = make_batches(rng, batches + 1, box)
    rate, transitions = engine_rate(Zones(places=index), data)
    naive = naive_rate(places, data[0], 2_000)
    print(f"{name}: {n_places} places (index built in {build:.2f} s), {batches} x {BATCH} fixes")
    print(f"  engine   {rate:12,.0f} fixes/s  ({transitions} transitions)")
    print(f"  baseline {naive:12,.0f} fixes/s  (per-fix STRtree + prepared contains, 2,000 fixes)")
    print(f"  ratio    {rate / naive:12.1f} x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    args = parser.parse_args()
    case("country", 100_000, (43.0, -1.5, 50.5, 7.5), args.batches)
    case("town", 100, (48.80, 2.25, 48.90, 2.42), args.batches)


if __name__ == "__main__":
    main()
