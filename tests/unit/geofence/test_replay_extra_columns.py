"""``trackgw geofence replay`` reads tracks with columns after the six it uses, such as the
8-column CSV of ``trackgw history export --format csv``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from gateway.cli import main
from gateway.exports import CSV_HEADER, csv
from tests.unit.geofence.test_geofence_replay import PLACES, TRACK, files

EXPECTED = [
    '{"type":"enter","device":"phone","place":"home","time":"2024-05-01T17:05:00Z"}',
    '{"type":"exit","device":"phone","place":"home","time":"2024-05-01T17:20:00Z"}',
]


def _fix(minute: int, lat: float, lon: float, accuracy: float | None) -> SimpleNamespace:
    return SimpleNamespace(
        fix_time=datetime(2024, 5, 1, 17, minute, tzinfo=UTC),
        lat=lat,
        lon=lon,
        accuracy_m=accuracy,
        speed_kmh=4.0,
        course_deg=181.5,
        altitude_m=35.0,
    )


def test_history_export_csv_replays_directly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fixes = [
        _fix(0, 51.5200, -0.1278, 12.0),
        _fix(5, 51.5075, -0.1278, 12.0),
        _fix(9, 51.5074, -0.1279, None),
        _fix(20, 51.5200, -0.1278, 12.0),
    ]
    track = "".join(csv(fixes, "phone"))
    assert track.splitlines()[0] == ",".join(CSV_HEADER)
    assert len(CSV_HEADER) == 8
    # --no-confirm: this test is about the columns (the track ends on its first
    # outside fix, so with confirmation the exit would still be pending).
    assert main([*files(tmp_path, track=track), "--no-confirm"]) == 0
    assert capsys.readouterr().out.splitlines() == EXPECTED


def test_extra_columns_give_the_same_transitions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(files(tmp_path)) == 0
    plain = capsys.readouterr().out
    lines = TRACK.splitlines()
    wide = "\n".join(
        [lines[0] + ",course_deg,altitude_m,note"]
        + [line + ",90.0,,anything" for line in lines[1:]]
    )
    assert main(files(tmp_path, track=wide + "\n")) == 0
    assert capsys.readouterr().out == plain


@pytest.mark.parametrize(
    ("track", "message"),
    [
        ("time,device,lat,lon,accuracy_m,speed_kmh,course_deg\n", "line 1: header must be"),
        ("device,time,lat,lon,accuracy_m\n", "line 1: header must be"),
        (
            "device,time,lat,lon,accuracy_m,speed_kmh,course_deg,altitude_m\n"
            "phone,2024-05-01T17:00:00Z,51.52,-0.1278,12,4\n",
            "line 2: expected 8 fields, got 6",
        ),
    ],
)
def test_header_must_still_start_with_the_six_and_rows_match_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], track: str, message: str
) -> None:
    assert main(files(tmp_path, places=PLACES, track=track)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err
