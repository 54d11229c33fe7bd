"""Issue 4: history queries (keyset paging, time_bucket downsampling, the plan window clamp)
and the GPX / GeoJSON / CSV exports, on the real TimescaleDB."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from gateway import cli, exports
from gateway.store import history

from .. import services

pytestmark = pytest.mark.integration

T0 = datetime(2024, 5, 1, 8, 0, 0, tzinfo=UTC)
GPX = "{http://www.topografix.com/GPX/1/1}"
TPX = "{http://www.garmin.com/xmlschemas/TrackPointExtension/v2}"


def insert(device_id: int, times: Sequence[datetime], lat0: float = 52.5) -> None:
    """Positions at ``times`` walking north, speed 36 km/h, course 90, altitude 30 m."""
    rows = [
        (device_id, t, t, lat0 + i * 1e-4, 13.4, True, 36.0, 90.0, 30.0, 8.0, 9, 80.0)
        for i, t in enumerate(times)
    ]
    with (
        services.connect() as conn,
        conn.cursor() as cur,
        cur.copy(
            "copy positions (device_id, fix_time, received_at, lat, lon, valid, speed_kmh,"
            " course_deg, altitude_m, accuracy_m, satellites, battery_pct) from stdin"
        ) as copy,
    ):
        for row in rows:
            copy.write_row(row)


def device(times: Sequence[datetime] = (), protocol: str = "teltonika") -> tuple[str, int]:
    key = services.unique_imei()
    device_id = services.provision(protocol, key)
    if times:
        insert(device_id, times)
    return key, device_id


def seconds(n: int, step_s: float = 1.0, start: datetime = T0) -> list[datetime]:
    return [start + timedelta(seconds=i * step_s) for i in range(n)]


async def all_pages(
    conn: psycopg.AsyncConnection[Any],
    device_id: int,
    start: datetime,
    end: datetime,
    **kw: Any,
) -> list[history.Page]:
    pages = []
    cursor = None
    for _ in range(10_000):
        page = await history.track(conn, device_id, start, end, cursor=cursor, **kw)
        pages.append(page)
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor
    raise AssertionError("paging did not end")


@pytest.fixture
async def aconn(db_url: str) -> Any:
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        yield conn


async def test_paging_returns_every_fix_once_in_order(aconn: psycopg.AsyncConnection[Any]) -> None:
    times = seconds(1000, 0.25)  # sub-second fixes: the cursor must keep microseconds exact
    _, device_id = device(times)
    _, other = device(times)  # another device's fixes never leak in
    pages = await all_pages(aconn, device_id, T0, T0 + timedelta(hours=1), limit=97)
    got = [f.fix_time for p in pages for f in p.fixes]
    assert got == times
    assert [len(p.fixes) for p in pages] == [97] * 10 + [30]
    assert all(p.next_cursor for p in pages[:-1])
    assert other != device_id


async def test_an_exact_last_page_has_no_cursor(aconn: psycopg.AsyncConnection[Any]) -> None:
    _, device_id = device(seconds(200))
    pages = await all_pages(aconn, device_id, T0, T0 + timedelta(hours=1), limit=100)
    assert [len(p.fixes) for p in pages] == [100, 100]
    assert pages[-1].next_cursor is None


async def test_keyset_pages_do_not_shift_when_older_fixes_arrive(
    aconn: psycopg.AsyncConnection[Any],
) -> None:
    times = seconds(100, 10)
    _, device_id = device(times)
    end = T0 + timedelta(hours=1)
    first = await history.track(aconn, device_id, T0, end, limit=50)
    # late fixes land between already-read ones: OFFSET paging would repeat a row
    insert(device_id, [T0 + timedelta(seconds=5), T0 + timedelta(seconds=15)], lat0=10)
    second = await history.track(aconn, device_id, T0, end, limit=50, cursor=first.next_cursor)
    got = [f.fix_time for f in first.fixes + second.fixes]
    assert got == times
    assert second.next_cursor is None


async def test_window_is_half_open_and_not_before_clamps(
    aconn: psycopg.AsyncConnection[Any],
) -> None:
    times = seconds(60, 60)  # an hour, a fix a minute
    _, device_id = device(times)
    start, end = T0 + timedelta(minutes=10), T0 + timedelta(minutes=20)
    page = await history.track(aconn, device_id, start, end)
    assert [f.fix_time for f in page.fixes] == times[10:20]
    clamp = T0 + timedelta(minutes=15, seconds=30)
    page = await history.track(aconn, device_id, start, end, not_before=clamp)
    assert [f.fix_time for f in page.fixes] == times[16:20]
    # a bound before start does not widen the window
    page = await history.track(aconn, device_id, start, end, not_before=T0)
    assert [f.fix_time for f in page.fixes] == times[10:20]
    # a bound after the end leaves nothing
    page = await history.track(aconn, device_id, start, end, not_before=end)
    assert page == history.Page((), None)
    # the clamp holds on later pages too
    pages = await all_pages(aconn, device_id, T0, end, limit=3, not_before=clamp)
    assert [f.fix_time for p in pages for f in p.fixes] == times[16:20]


async def test_fields_come_back_as_stored(aconn: psycopg.AsyncConnection[Any]) -> None:
    _, device_id = device([T0])
    (fix,) = (await history.track(aconn, device_id, T0, T0 + timedelta(seconds=1))).fixes
    assert fix == history.Fix(T0, 52.5, 13.4, True, 36.0, 90.0, 30.0, 8.0, 9, 80.0)


async def test_bucket_gives_the_first_fix_of_each_bucket(
    aconn: psycopg.AsyncConnection[Any],
) -> None:
    # every 7 s for 30 min, then a 20 min gap, then 10 min more: empty buckets give nothing
    times = seconds(257, 7) + seconds(86, 7, T0 + timedelta(minutes=50))
    _, device_id = device(times)
    end = T0 + timedelta(hours=2)
    pages = await all_pages(aconn, device_id, T0, end, bucket_s=60, limit=1000)
    got = [f.fix_time for p in pages for f in p.fixes]
    # 60 s buckets of time_bucket are aligned to whole minutes of the epoch
    firsts: dict[int, datetime] = {}
    for t in times:
        firsts.setdefault(int(t.timestamp()) // 60, t)
    assert got == sorted(firsts.values())
    assert len({int(t.timestamp()) // 60 for t in got}) == len(got)  # one per bucket
    # the same through small pages: page boundaries neither repeat nor skip a bucket
    for limit in (1, 7, 40):
        paged = await all_pages(aconn, device_id, T0, end, bucket_s=60, limit=limit)
        assert [f.fix_time for p in paged for f in p.fixes] == got


async def test_bucket_agrees_with_time_bucket_for_odd_widths(
    aconn: psycopg.AsyncConnection[Any],
) -> None:
    times = seconds(500, 3.3)
    _, device_id = device(times)
    end = T0 + timedelta(hours=1)
    for width in (1, 17, 3600, 86400 * 7):
        async with aconn.cursor() as cur:
            await cur.execute(
                "select distinct on (time_bucket(%(w)s, fix_time)) fix_time from positions"
                " where device_id = %(d)s order by time_bucket(%(w)s, fix_time), fix_time",
                {"w": timedelta(seconds=width), "d": device_id},
            )
            want = [r[0] for r in await cur.fetchall()]
        pages = await all_pages(aconn, device_id, T0, end, bucket_s=width, limit=11)
        assert [f.fix_time for p in pages for f in p.fixes] == want, width


async def test_a_cursor_only_fits_its_own_query(aconn: psycopg.AsyncConnection[Any]) -> None:
    _, device_id = device(seconds(30, 10))
    end = T0 + timedelta(hours=1)
    page = await history.track(aconn, device_id, T0, end, limit=2, bucket_s=20)
    assert page.next_cursor is not None
    with pytest.raises(history.InvalidCursor):
        await history.track(aconn, device_id, T0, end, cursor=page.next_cursor)
    with pytest.raises(history.InvalidCursor):
        await history.track(aconn, device_id, T0, end, cursor="not-a-cursor")
    with pytest.raises(ValueError, match="timezone"):
        await history.track(aconn, device_id, T0.replace(tzinfo=None), end)
    with pytest.raises(ValueError, match="limit"):
        await history.track(aconn, device_id, T0, end, limit=0)


async def fetch_all(conn: psycopg.AsyncConnection[Any], device_id: int) -> list[history.Fix]:
    pages = await all_pages(conn, device_id, T0, T0 + timedelta(days=1), limit=1000)
    return [f for p in pages for f in p.fixes]


async def test_gpx_is_xml_with_one_trkpt_per_fix(aconn: psycopg.AsyncConnection[Any]) -> None:
    times = seconds(25, 30)
    _, device_id = device(times)
    fixes = await fetch_all(aconn, device_id)
    text = "".join(exports.gpx(fixes, name='tag <1> & "co"'))
    root = ET.fromstring(text)
    assert root.tag == f"{GPX}gpx"
    assert root.get("version") == "1.1"
    assert root.findtext(f"{GPX}trk/{GPX}name") == 'tag <1> & "co"'
    points = root.findall(f"{GPX}trk/{GPX}trkseg/{GPX}trkpt")
    assert len(points) == len(times)
    got = [datetime.fromisoformat(p.findtext(f"{GPX}time", "")) for p in points]
    assert got == times
    first = points[0]
    assert float(first.get("lat", "nan")) == pytest.approx(52.5)
    assert float(first.get("lon", "nan")) == pytest.approx(13.4)
    assert first.findtext(f"{GPX}ele") == "30.0"
    ext = first.find(f"{GPX}extensions/{TPX}TrackPointExtension")
    assert ext is not None
    assert float(ext.findtext(f"{TPX}speed", "nan")) == pytest.approx(10.0)  # 36 km/h in m/s
    assert float(ext.findtext(f"{TPX}course", "nan")) == pytest.approx(90.0)


def test_gpx_of_no_fixes_is_still_a_document() -> None:
    root = ET.fromstring("".join(exports.gpx([])))
    assert root.findall(f"{GPX}trk/{GPX}trkseg/{GPX}trkpt") == []


async def test_geojson_round_trips_through_json(aconn: psycopg.AsyncConnection[Any]) -> None:
    times = seconds(12, 60)
    _, device_id = device(times)
    fixes = await fetch_all(aconn, device_id)
    data = json.loads("".join(exports.geojson(fixes, "tag-1")))
    assert data["type"] == "FeatureCollection"
    points = [f for f in data["features"] if f["geometry"]["type"] == "Point"]
    lines = [f for f in data["features"] if f["geometry"]["type"] == "LineString"]
    assert len(points) == 12
    assert len(lines) == 1
    assert lines[0]["geometry"]["coordinates"][0] == [13.4, 52.5]  # lon, lat
    assert len(lines[0]["geometry"]["coordinates"]) == 12
    props = points[3]["properties"]
    assert datetime.fromisoformat(props["time"]) == times[3]
    assert props["speed_kmh"] == 36.0
    assert props["course_deg"] == 90.0
    assert props["accuracy_m"] == 8.0
    # one fix: a point, no degenerate line; none: an empty collection
    assert len(json.loads("".join(exports.geojson(fixes[:1])))["features"]) == 1
    assert json.loads("".join(exports.geojson([])))["features"] == []


async def test_csv_has_the_header_and_one_row_per_fix(aconn: psycopg.AsyncConnection[Any]) -> None:
    times = seconds(5, 60)
    _, device_id = device(times)
    fixes = await fetch_all(aconn, device_id)
    rows = list(csv.reader(io.StringIO("".join(exports.csv(fixes, "tag,1")))))
    assert tuple(rows[0]) == exports.CSV_HEADER
    assert len(rows) == 6
    device_name, when, lat, lon, acc, speed, course, alt = rows[1]
    assert device_name == "tag,1"  # quoted, not split
    assert datetime.fromisoformat(when) == times[0]
    assert (float(lat), float(lon)) == (52.5, 13.4)
    assert (float(acc), float(speed), float(course), float(alt)) == (8.0, 36.0, 90.0, 30.0)
    assert list(csv.reader(io.StringIO("".join(exports.csv([], "x"))))) == [
        list(exports.CSV_HEADER)
    ]


def cli_export(monkeypatch: pytest.MonkeyPatch, db_url: str, *args: str) -> int:
    monkeypatch.setenv("TRACKGW_DATABASE_URL", db_url)
    monkeypatch.delenv("TRACKGW_CONFIG", raising=False)
    return cli.main(["history", "export", *args])


def test_export_command_writes_each_format(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    times = seconds(12_000, 1)  # more than one page of the command
    key, _ = device(times)
    window = ["--device", key, "--from", "2024-05-01T08:00:00Z", "--to", "2024-05-01T12:00:00Z"]
    assert cli_export(monkeypatch, db_url, *window, "--format", "csv") == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 1 + len(times)
    assert [datetime.fromisoformat(r[1]) for r in rows[1:]] == times
    assert cli_export(monkeypatch, db_url, *window, "--format", "gpx", "--bucket", "600") == 0
    root = ET.fromstring(capsys.readouterr().out)
    assert len(root.findall(f"{GPX}trk/{GPX}trkseg/{GPX}trkpt")) == 20  # 200 min / 10 min
    assert cli_export(monkeypatch, db_url, *window, "--format", "geojson") == 0
    features = json.loads(capsys.readouterr().out)["features"]
    assert len(features) == len(times) + 1


def test_export_command_errors(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    key, _ = device(seconds(3))
    ok_to = ["--to", "2024-05-02T00:00:00Z"]
    base = ["--device", key, "--from", "2024-05-01T00:00:00Z"]
    assert cli_export(monkeypatch, db_url, *base, *ok_to, "--bucket", "0") == 2
    assert cli_export(monkeypatch, db_url, *base, "--to", "yesterday") == 2
    assert "--to: not an ISO 8601 time" in capsys.readouterr().err
    assert cli_export(monkeypatch, db_url, *base, "--to", "2024-05-02T00:00:00") == 2
    assert "zone" in capsys.readouterr().err
    assert cli_export(monkeypatch, db_url, *base, "--to", "2024-04-30T00:00:00Z") == 2
    with pytest.raises(SystemExit) as exit_:
        cli_export(monkeypatch, db_url, *base, *ok_to, "--format", "kml")
    assert exit_.value.code == 2
    missing = ["--device", "no-such-device", "--from", "2024-05-01T00:00:00Z", *ok_to]
    assert cli_export(monkeypatch, db_url, *missing) == 1
    assert "no device 'no-such-device'" in capsys.readouterr().err


def test_a_replay_csv_export_replays_through_the_geofence(
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    # 100 fixes walking north from 52.5 by ~11 m each: through a 100 m circle at 52.505
    key, _ = device(seconds(100, 10))
    window = ["--from", "2024-05-01T08:00:00Z", "--to", "2024-05-01T09:00:00Z"]
    args = ["--device", key, *window, "--format", "csv", "--replay-csv"]
    assert cli_export(monkeypatch, db_url, *args) == 0
    track = tmp_path / "track.csv"
    track.write_text(capsys.readouterr().out)
    places = tmp_path / "places.geojson"
    place = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [13.4, 52.505]},
        "properties": {"id": "park", "radius_m": 100},
    }
    places.write_text(json.dumps({"type": "FeatureCollection", "features": [place]}))
    code = cli.main(["geofence", "replay", "--places", str(places), "--track", str(track)])
    assert code == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["type"], e["device"], e["place"]) for e in events] == [
        ("enter", key, "park"),
        ("exit", key, "park"),
    ]
