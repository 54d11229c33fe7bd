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

__all__ = [
    "CSV_HEADER",
    "FORMATS",
    "REPLAY_HEADER",
    "FixLike",
    "Streamer",
    "csv",
    "geojson",
    "gpx",
    "write",
]

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


def _gpx_head(name: str, creator: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<gpx version="1.1" creator={quoteattr(creator)} xmlns="{_GPX_NS}"'
        f' xmlns:gpxtpx="{_TPX_NS}">\n'
        f"<trk><name>{escape(name)}</name><trkseg>\n"
    )


_GPX_TAIL = "</trkseg></trk>\n</gpx>\n"


def _trkpt(f: FixLike) -> str:
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
    return "".join(parts)


def gpx(fixes: Iterable[FixLike], name: str = "", creator: str = "trackgw") -> Iterator[str]:
    yield _gpx_head(name, creator)
    for f in fixes:
        yield _trkpt(f)
    yield _GPX_TAIL


def geojson(fixes: Iterable[FixLike], device: str = "") -> Iterator[str]:
    """Point features as they come, then the LineString (only its coordinates are kept)."""
    yield '{"type":"FeatureCollection","features":['
    line: list[list[float]] = []
    first = True
    for f in fixes:
        point = [round(f.lon, 7), round(f.lat, 7)]
        line.append(point)
        yield ("" if first else ",") + "\n" + _point_feature(f, device)
        first = False
    if len(line) >= 2:
        feature = {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": line},
            "properties": {"device": device, "fixes": len(line)},
        }
        yield ("" if first else ",") + "\n" + json.dumps(feature, separators=(",", ":"))
    yield "\n]}\n"


def _point_feature(f: FixLike, device: str) -> str:
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [round(f.lon, 7), round(f.lat, 7)]},
        "properties": {
            "device": device,
            "time": iso_z(f.fix_time),
            "speed_kmh": _num(f.speed_kmh),
            "course_deg": _num(f.course_deg, 1),
            "accuracy_m": _num(f.accuracy_m),
            "altitude_m": _num(f.altitude_m),
        },
    }
    return json.dumps(feature, separators=(",", ":"))


def _cell(value: float | None, digits: int = 2) -> str:
    number = _num(value, digits)
    return "" if number is None else repr(number)


def _csv_row(f: FixLike, device: str, *, replay: bool) -> list[str]:
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
    return row


def csv(fixes: Iterable[FixLike], device: str, *, replay: bool = False) -> Iterator[str]:
    header = REPLAY_HEADER if replay else CSV_HEADER
    buffer = io.StringIO()
    out = _csv.writer(buffer, lineterminator="\n")
    out.writerow(header)
    for f in fixes:
        out.writerow(_csv_row(f, device, replay=replay))
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


class Streamer:
    """The same documents written a page at a time, for tracks too long to hold.

    ``head()``, then ``body(fixes)`` for each page, then — GeoJSON only, when
    ``needs_second_pass`` — ``between()`` and ``second(fixes)`` for each page again (the
    LineString's coordinates: a second read instead of keeping every coordinate), then
    ``tail()``. Only the fixes of one page are ever held.
    """

    def __init__(self, fmt: str, device: str) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
        self.fmt = fmt
        self.device = device
        self._count = 0
        self._line = 0

    @property
    def needs_second_pass(self) -> bool:
        return self.fmt == "geojson" and self._count >= 2

    def head(self) -> str:
        if self.fmt == "gpx":
            return _gpx_head(self.device, "trackgw")
        if self.fmt == "geojson":
            return '{"type":"FeatureCollection","features":['
        return ",".join(CSV_HEADER) + "\n"

    def body(self, fixes: Iterable[FixLike]) -> Iterator[str]:
        if self.fmt == "gpx":
            for f in fixes:
                self._count += 1
                yield _trkpt(f)
        elif self.fmt == "geojson":
            for f in fixes:
                yield ("," if self._count else "") + "\n" + _point_feature(f, self.device)
                self._count += 1
        else:
            buffer = io.StringIO()
            out = _csv.writer(buffer, lineterminator="\n")
            for f in fixes:
                self._count += 1
                out.writerow(_csv_row(f, self.device, replay=False))
            yield buffer.getvalue()

    def between(self) -> str:
        return ',\n{"type":"Feature","geometry":{"type":"LineString","coordinates":['

    def second(self, fixes: Iterable[FixLike]) -> str:
        parts = []
        for f in fixes:
            parts.append(
                ("," if self._line else "") + json.dumps([round(f.lon, 7), round(f.lat, 7)])
            )
            self._line += 1
        return "".join(parts)

    def tail(self) -> str:
        if self.fmt == "gpx":
            return _GPX_TAIL
        if self.fmt == "geojson":
            if self.needs_second_pass:
                props = json.dumps({"device": self.device, "fixes": self._line})
                return f']}},"properties":{props}}}\n]}}\n'
            return "\n]}\n"
        return ""
