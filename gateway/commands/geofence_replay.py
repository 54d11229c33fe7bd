"""``trackgw geofence replay``: run a recorded track through the geofence engine.

    trackgw geofence replay --places PLACES.geojson --track TRACK.csv [--airports] [--dwell SECONDS]
        [--enter-fixes N] [--enter-s SECONDS] [--exit-fixes N] [--exit-s SECONDS]
        [--no-confirm] [--until TIME]

PLACES is a GeoJSON FeatureCollection (Point features with ``properties.radius_m``,
Polygon and MultiPolygon features; ``properties.id`` names each place). TRACK is CSV
whose header starts with ``device,time,lat,lon,accuracy_m,speed_kmh`` (ISO 8601 times
with a zone; accuracy and speed may be empty). Further columns after those six (such as
``course_deg,altitude_m`` in ``trackgw history export --format csv``) are ignored; every
row has as many fields as the header. Rows are fed, in file order, in batches
through :func:`geofence.evaluate` -- the gateway's own engine -- and every
transition is printed as one JSON object per line, in time order::

    {"type":"enter","device":"phone-1","place":"home","time":"2024-05-01T17:02:00Z"}

Transitions are confirmed as in the gateway (:mod:`geofence.confirm`): the same defaults
(``geofence.DEFAULT_CONFIRM``), each number overridable (``--enter-fixes`` ...; a place's
``confirm_*`` properties override them for that place), ``--no-confirm`` for the first
fix to decide. After the last row, what is pending and due by ``--until`` (default: the
newest fix of the track) is confirmed by time, as the gateway's timer would
(:func:`geofence.confirm_due`).

Exit status: 0 ok, 2 for an unreadable or invalid file (naming the line or feature).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from geofence import (
    DEFAULT_CONFIRM,
    IMMEDIATE,
    Batch,
    Confirm,
    GeofenceError,
    GeofenceState,
    Place,
    PlaceIndex,
    Rules,
    Transition,
    Zones,
    airport_index,
    confirm_due,
    evaluate,
    places_from_geojson,
)

TRACK_HEADER = ("device", "time", "lat", "lon", "accuracy_m", "speed_kmh")
#: Rows per engine call: small enough to exercise batch boundaries on real tracks.
BATCH_ROWS = 1000


class ReplayInputError(Exception):
    """A replay input file is unreadable or invalid; the message names where."""


@dataclass(frozen=True, slots=True)
class _Row:
    device: str
    time: datetime
    lat: float
    lon: float
    accuracy_m: float | None


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = subparsers.add_parser("geofence", help="geofence tools")
    sub = group.add_subparsers(dest="geofence_command", metavar="COMMAND")
    sub.required = True
    replay = sub.add_parser(
        "replay",
        help="print the transitions a recorded track produces",
        description="Feed TRACK through the geofence engine against PLACES; print one "
        "JSON object per transition, in time order.",
    )
    replay.add_argument("--places", required=True, metavar="PLACES.geojson", type=Path)
    replay.add_argument("--track", required=True, metavar="TRACK.csv", type=Path)
    replay.add_argument("--airports", action="store_true", help="also evaluate airport zones")
    replay.add_argument(
        "--dwell",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="seconds a device must stay inside before 'enter' (default 0)",
    )
    d = DEFAULT_CONFIRM
    for flag, kind, default, what in (
        ("--enter-fixes", int, d.enter_fixes, "consecutive inside fixes that confirm an enter"),
        ("--enter-s", float, d.enter_s, "seconds after the first inside fix that confirm it"),
        ("--exit-fixes", int, d.exit_fixes, "consecutive outside fixes that confirm an exit"),
        ("--exit-s", float, d.exit_s, "seconds after the first outside fix that confirm it"),
    ):
        replay.add_argument(
            flag,
            type=kind,
            default=None,
            metavar="N" if kind is int else "SECONDS",
            help=f"{what} (default {default:g}, as in the gateway)",
        )
    replay.add_argument(
        "--no-confirm",
        action="store_true",
        help="no confirmation: the first fix on the new side decides",
    )
    replay.add_argument(
        "--until",
        metavar="TIME",
        help="confirm by time what is pending and due by then (ISO 8601; "
        "default: the newest fix of the track)",
    )
    replay.set_defaults(func=run)


def confirm_of(args: argparse.Namespace) -> Confirm:
    """The confirmation rule the options ask for (``ValueError`` naming a bad one)."""
    base = IMMEDIATE if args.no_confirm else DEFAULT_CONFIRM
    changes = {
        name: value
        for name in ("enter_fixes", "enter_s", "exit_fixes", "exit_s")
        if (value := getattr(args, name, None)) is not None
    }
    return replace(base, **changes) if changes else base


def run(args: argparse.Namespace) -> int:
    if not (math.isfinite(args.dwell) and args.dwell >= 0):
        print(f"trackgw geofence replay: --dwell must be >= 0, got {args.dwell!r}", file=sys.stderr)
        return 2
    try:
        confirm = confirm_of(args)
        until = _until(args.until)
    except ValueError as exc:
        print(f"trackgw geofence replay: {exc}", file=sys.stderr)
        return 2
    try:
        places = _read_places(args.places)
        rows = _read_track(args.track)
    except ReplayInputError as exc:
        print(f"trackgw geofence replay: {exc}", file=sys.stderr)
        return 2
    zones = Zones(
        places=PlaceIndex(places),
        airports=airport_index() if args.airports else None,
        rules=Rules(dwell_s=args.dwell, confirm=confirm, airport_confirm=confirm),
    )
    state = GeofenceState()
    transitions: list[Transition] = []
    for start in range(0, len(rows), BATCH_ROWS):
        chunk = rows[start : start + BATCH_ROWS]
        batch = Batch.from_fixes(
            [r.device for r in chunk],
            [r.time for r in chunk],
            [r.lat for r in chunk],
            [r.lon for r in chunk],
            [r.accuracy_m for r in chunk],
        )
        result = evaluate(batch, state, zones)
        state.apply(result)
        transitions.extend(result.transitions)
    if until is None and rows:
        until = max(r.time for r in rows)
    if until is not None:
        transitions.extend(confirm_due(state, zones, until).transitions)
    transitions.sort(key=lambda t: t.time)  # stable: batch order breaks ties
    out = sys.stdout
    for t in transitions:
        record = {
            "type": t.kind.value,
            "device": t.device_id,
            "place": t.place_id,
            "time": _iso_z(t.time),
        }
        out.write(json.dumps(record, separators=(",", ":")) + "\n")
    return 0


def _until(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--until is not ISO 8601: {text!r}") from None
    if when.utcoffset() is None:
        raise ValueError(f"--until has no timezone (add Z or an offset): {text!r}")
    return when


def _iso_z(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _read_places(path: Path) -> list[Place]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReplayInputError(f"{path}: cannot read: {exc.strerror}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReplayInputError(f"{path}: not valid JSON: {exc}") from exc
    try:
        return places_from_geojson(data)
    except GeofenceError as exc:
        raise ReplayInputError(f"{path}: {exc}") from exc


def _read_track(path: Path) -> list[_Row]:
    try:
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            names = tuple(h.strip() for h in header) if header is not None else ()
            if names[: len(TRACK_HEADER)] != TRACK_HEADER:
                raise ReplayInputError(
                    f"{path} line 1: header must be {','.join(TRACK_HEADER)!r} "
                    f"(more columns may follow), got {header!r}"
                )
            return [
                _parse_row(row, len(names), f"{path} line {reader.line_num}")
                for row in reader
                if any(cell.strip() for cell in row)
            ]
    except OSError as exc:
        raise ReplayInputError(f"{path}: cannot read: {exc.strerror}") from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ReplayInputError(f"{path}: not valid CSV: {exc}") from exc


def _parse_row(row: list[str], width: int, where: str) -> _Row:
    """One data row of a track whose header has ``width`` columns (the six of
    ``TRACK_HEADER`` first; the cells of any further columns are not read)."""
    if len(row) != width:
        raise ReplayInputError(f"{where}: expected {width} fields, got {len(row)}")
    device, time_s, lat_s, lon_s, acc_s, speed_s = (
        cell.strip() for cell in row[: len(TRACK_HEADER)]
    )
    if not device:
        raise ReplayInputError(f"{where}: empty device")
    try:
        time = datetime.fromisoformat(time_s)
    except ValueError:
        raise ReplayInputError(f"{where}: time is not ISO 8601: {time_s!r}") from None
    if time.utcoffset() is None:
        raise ReplayInputError(f"{where}: time has no timezone (add Z or an offset): {time_s!r}")
    lat = _number(lat_s, "lat", where)
    lon = _number(lon_s, "lon", where)
    if abs(lat) > 90 or abs(lon) > 180:
        raise ReplayInputError(f"{where}: position out of range: lat {lat_s!r}, lon {lon_s!r}")
    accuracy = _number(acc_s, "accuracy_m", where) if acc_s else None
    if accuracy is not None and accuracy < 0:
        raise ReplayInputError(f"{where}: accuracy_m must be >= 0, got {acc_s!r}")
    if speed_s:
        _number(speed_s, "speed_kmh", where)  # validated; the engine does not use speed
    return _Row(device, time, lat, lon, accuracy)


def _number(text: str, name: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ReplayInputError(f"{where}: {name} is not a number: {text!r}") from None
    if not math.isfinite(value):
        raise ReplayInputError(f"{where}: {name} is not finite: {text!r}")
    return value
