"""Circles' places in the database, validated by ``geofence`` and limited by the plan."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from entitlements import LimitExceeded, Snapshot
from geofence import places_from_geojson


@dataclass(frozen=True, slots=True)
class NewPlace:
    name: str
    kind: str  #: circle | polygon
    geometry: dict[str, Any]
    radius_m: float | None


def parse_places(doc: Any) -> list[NewPlace]:
    """A GeoJSON Feature or FeatureCollection (the replay command's form) -> places.

    ``geofence.InvalidGeometry`` names the feature at fault.
    """
    parsed = places_from_geojson(doc)  # validates every feature
    features = doc["features"] if doc.get("type") == "FeatureCollection" else [doc]
    out = []
    for place, feature in zip(parsed, features, strict=True):
        props = feature.get("properties") or {}
        out.append(
            NewPlace(
                name=place.id,
                kind=place.kind.value,
                geometry=feature["geometry"],
                radius_m=props.get("radius_m") if place.kind.value == "circle" else None,
            )
        )
    return out


def check_place_limit(
    snapshot: Snapshot, circle_id: str, current: int, adding: int, now: datetime
) -> None:
    """``LimitExceeded`` (naming plan and limit) when ``adding`` places would pass the plan's."""
    entitlement = snapshot.entitlement(circle_id, now)
    allowed = entitlement.limits.places_per_circle
    if allowed is not None and current + adding > allowed:
        raise LimitExceeded("places", entitlement.plan, allowed, current, holder=circle_id)


async def add_places(
    conn: psycopg.AsyncConnection[Any],
    circle_id: str,
    places: list[NewPlace],
    snapshot: Snapshot,
    now: datetime,
) -> list[dict[str, Any]]:
    """Insert ``places`` into the circle in one transaction, within the plan's place limit."""
    async with conn.transaction():
        row = await (
            await conn.execute("select id from circles where id = %s for update", (circle_id,))
        ).fetchone()
        if row is None:
            raise LookupError(f"no circle {circle_id!r}")
        count = await (
            await conn.execute("select count(*) from places where circle_id = %s", (circle_id,))
        ).fetchone()
        assert count is not None
        check_place_limit(snapshot, circle_id, int(count[0]), len(places), now)
        out = []
        for p in places:
            try:
                async with conn.transaction():
                    created = await (
                        await conn.execute(
                            "insert into places (circle_id, name, kind, geometry, radius_m)"
                            " values (%s, %s, %s, %s, %s) returning id, created_at",
                            (circle_id, p.name, p.kind, json.dumps(p.geometry), p.radius_m),
                        )
                    ).fetchone()
            except psycopg.errors.UniqueViolation:
                raise ValueError(f"circle {circle_id!r} already has a place {p.name!r}") from None
            assert created is not None
            out.append(
                {
                    "id": created[0],
                    "circle": circle_id,
                    "name": p.name,
                    "kind": p.kind,
                    "radius_m": p.radius_m,
                    "created_at": created[1],
                }
            )
    return out


async def list_places(conn: psycopg.AsyncConnection[Any], circle_id: str) -> list[dict[str, Any]]:
    rows = await (
        await conn.execute(
            "select id, name, kind, geometry, radius_m, created_at from places where circle_id = %s"
            " order by created_at, id",
            (circle_id,),
        )
    ).fetchall()
    return [
        {
            "id": r[0],
            "circle": circle_id,
            "name": r[1],
            "kind": r[2],
            "geometry": r[3],
            "radius_m": r[4],
            "created_at": r[5],
        }
        for r in rows
    ]
