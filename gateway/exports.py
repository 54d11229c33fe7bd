"""Track exports: GPX 1.1, GeoJSON and CSV, as generators of text chunks (pure, no I/O).

Each writer takes an iterable of fixes (anything with the fields of ``gateway.store.history
.Fix``) and yields ``str`` chunks, so a caller can stream page after page of history to a
file, stdout or an HTTP response without holding the whole track.

- ``gpx``: GPX 1.1, one ``trk``/``trkseg`` with a ``trkpt`` per fix (``ele``, ``time``), and
  speed (m/s) and course (degrees) in Garmin's TrackPointExtension v2, which GPX 1.1 readers
  (Garmin, GPXSee, OsmAnd, gpxpy) understand. Values are numbers and the device name is
  escaped, so the document is always well-formed XML.
- ``geojson``: a FeatureCollection with one Point feature per fix (properties ``time``,
  ``speed_kmh``, ``course_deg``, ``accuracy_m``, ``altitude_m``) followed by one LineString
  feature of the whole track (when it has at least two fixes). Coordinates are [lon, lat].
- ``csv``: header ``device,time,lat,lon,accuracy_m,speed_kmh,course_deg,altitude_m``. With
  ``replay=True`` only the first six columns are written: exactly the TRACK.csv that
  ``trackgw geofence replay`` reads.
"""

from __future__ import annotations

import csv as _csv
import io
import json
import math
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Protocol
from xml.sax.saxutils import escape, quoteattr

__all__ = ["CSV_HEADER", "FORMATS", "REPLAY_HEADER", "FixLike", "csv", "geojson", "gpx", "write"]

CSV_HEADER = (
    "device",
    "time",
    "lat",
    "lon",
    "accuracy_m",
    "speed_kmh",
    "course_deg",
    "altitude_m",
)
#: the columns of ``trackgw geofence replay``'s TRACK.csv
REPLAY_HEADER = CSV_HEADER[:6]

#: format name -> (media type, file extension)
FORMATS = {
    "gpx": ("application/gpx+xml", "gpx"),
    "geojson": ("application/geo+json", "geojson"),
    "csv": ("text/csv", "csv"),
}

_GPX_NS = "http://www.topografix.com/GPX/1/1"
_TPX_NS = "http://www.garmin.com/xmlschemas/TrackPointExtension/v2"


class FixLike(Protocol):
    @property
    def fix_time(self) -> datetime: ...
    @property
    def lat(self) -> float: ...
    @property
    def lon(self) -> float: ...
    @property
    def speed_kmh(self) -> float | None: ...
    @property
    def course_deg(self) -> float | None: ...
    @property
    def altitude_m(self) -> float | None: ...
    @property
    def accuracy_m(self) -> float | None: ...


def iso_z(when: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` (GPX's xsd:dateTime; what replay reads)."""
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _num(value: float | None, digits: int = 2) -> float | None:
    """A finite, rounded number, or None (NaN/inf are not JSON, not xsd:decimal)."""
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


def _coord(value: float) -> str:
    return f"{value:.7f}".rstrip("0").rstrip(".")


def gpx(fixes: Iterable[FixLike], name: str = "", creator: str = "trackgw") -> Iterator[str]:
    yield (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<gpx version="1.1" creator={quoteattr(creator)} xmlns="{_GPX_NS}"'
        f' xmlns:gpxtpx="{_TPX_NS}">\n'
        f"<trk><name>{escape(name)}</name><trkseg>\n"
    )
    for f in fixes:
        parts = [f'<trkpt lat="{_coord(f.lat)}" lon="{_coord(f.lon)}">']
        ele = _num(f.altitude_m)
        if ele is not None:
            parts.append(f"<ele>{ele}</ele>")
        parts.append(f"<time>{iso_z(f.fix_time)}</time>")
        speed = _num(None if f.speed_kmh is None else f.speed_kmh / 3.6)
        course = _num(f.course_deg, 1)
        if course is not None and not 0 <= course < 360:
            course = None  # the extension's course is 0 <= x < 360
        if speed is not None or course is not None:
            parts.append("<extensions><gpxtpx:TrackPointExtension>")
            if speed is not None:
                parts.append(f"<gpxtpx:speed>{max(speed, 0.0)}</gpxtpx:speed>")
            if course is not None:
                parts.append(f"<gpxtpx:course>{course}</gpxtpx:course>")
            parts.append("</gpxtpx:TrackPointExtension></extensions>")
        parts.append("</trkpt>\n")
        yield "".join(parts)
    yield "</trkseg></trk>\n</gpx>\n"


def geojson(fixes: Iterable[FixLike], device: str = "") -> Iterator[str]:
    """Point features as they come, then the LineString (only its coordinates are kept)."""
    yield '{"type":"FeatureCollection","features":['
    line: list[list[float]] = []
    first = True
    for f in fixes:
        point = [round(f.lon, 7), round(f.lat, 7)]
        line.append(point)
        feature = {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": point},
            "properties": {
                "device": device,
                "time": iso_z(f.fix_time),
                "speed_kmh": _num(f.speed_kmh),
                "course_deg": _num(f.course_deg, 1),
                "accuracy_m": _num(f.accuracy_m),
                "altitude_m": _num(f.altitude_m),
            },
        }
        yield ("" if first else ",") + "\n" + json.dumps(feature, separators=(",", ":"))
        first = False
    if len(line) >= 2:
        feature = {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": line},
            "properties": {"device": device, "fixes": len(line)},
        }
        yield ("" if first else ",") + "\n" + json.dumps(feature, separators=(",", ":"))
    yield "\n]}\n"


def _cell(value: float | None, digits: int = 2) -> str:
    number = _num(value, digits)
    return "" if number is None else repr(number)


def csv(fixes: Iterable[FixLike], device: str, *, replay: bool = False) -> Iterator[str]:
    header = REPLAY_HEADER if replay else CSV_HEADER
    buffer = io.StringIO()
    out = _csv.writer(buffer, lineterminator="\n")
    out.writerow(header)
    for f in fixes:
        row = [
            device,
            iso_z(f.fix_time),
            _coord(f.lat),
            _coord(f.lon),
            _cell(f.accuracy_m),
            _cell(f.speed_kmh),
        ]
        if not replay:
            row += [_cell(f.course_deg, 1), _cell(f.altitude_m)]
        out.writerow(row)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def write(fmt: str, fixes: Iterable[FixLike], device: str) -> Iterator[str]:
    """The chunks of ``fixes`` in format ``fmt`` (a key of ``FORMATS``)."""
    if fmt == "gpx":
        return gpx(fixes, name=device)
    if fmt == "geojson":
        return geojson(fixes, device)
    if fmt == "csv":
        return csv(fixes, device)
    raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
