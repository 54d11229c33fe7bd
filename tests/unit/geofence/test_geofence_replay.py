"""``trackgw geofence replay``: exact output lines and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.cli import main

PLACES = {
    "type": "FeatureCollection",
    "features": [
        {"type": "Feature", "properties": {"id": "home", "radius_m": 100},
         "geometry": {"type": "Point", "coordinates": [-0.1278, 51.5074]}},
        {"type": "Feature", "properties": {"id": "park"},
         "geometry": {"type": "Polygon", "coordinates": [[[-0.170, 51.505], [-0.150, 51.505],
                      [-0.150, 51.512], [-0.170, 51.512], [-0.170, 51.505]]]}},
    ],
}  # fmt: skip

TRACK = """device,time,lat,lon,accuracy_m,speed_kmh
phone,2024-05-01T17:00:00Z,51.5200,-0.1278,12,4
phone,2024-05-01T17:05:00Z,51.5075,-0.1278,12,0
tag,2024-05-01T17:06:00+00:00,51.5085,-0.1600,,
phone,2024-05-01T17:09:00Z,51.5074,-0.1279,,
phone,2024-05-01T17:20:00Z,51.5200,-0.1278,12,5
tag,2024-05-01T18:06:00Z,51.5300,-0.1600,8,30
phone,2024-05-01T19:00:00Z,51.4706,-0.4619,10,0
phone,2024-05-01T20:20:00Z,49.0130,2.5500,10,0
"""


def files(tmp_path: Path, places: object = PLACES, track: str = TRACK) -> list[str]:
    (tmp_path / "places.geojson").write_text(json.dumps(places))
    (tmp_path / "track.csv").write_text(track)
    return ["geofence", "replay", "--places", str(tmp_path / "places.geojson"),
            "--track", str(tmp_path / "track.csv")]  # fmt: skip


def test_replay_prints_transitions_in_time_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # With the gateway's confirmation defaults (2 fixes or 3 min in, 3 fixes or 5 min out):
    # phone: inside at 17:05, again at 17:09 -> confirmed by time at 17:08 (3 min after the
    # first inside fix, before the second); outside at 17:20, next fix at LHR -> confirmed
    # by time at 17:25. tag: one inside fix at 17:06 -> 17:09; outside at 18:06 and no
    # more fixes -> 18:11, confirmed at the end of the track (the newest fix, 20:20).
    # (Before confirmation, the first fix on the new side decided: see --no-confirm.)
    assert main(files(tmp_path)) == 0
    assert capsys.readouterr().out.splitlines() == [
        '{"type":"enter","device":"phone","place":"home","time":"2024-05-01T17:08:00Z"}',
        '{"type":"enter","device":"tag","place":"park","time":"2024-05-01T17:09:00Z"}',
        '{"type":"exit","device":"phone","place":"home","time":"2024-05-01T17:25:00Z"}',
        '{"type":"exit","device":"tag","place":"park","time":"2024-05-01T18:11:00Z"}',
    ]


def test_replay_without_confirmation_takes_the_first_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*files(tmp_path), "--no-confirm"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        '{"type":"enter","device":"phone","place":"home","time":"2024-05-01T17:05:00Z"}',
        '{"type":"enter","device":"tag","place":"park","time":"2024-05-01T17:06:00Z"}',
        '{"type":"exit","device":"phone","place":"home","time":"2024-05-01T17:20:00Z"}',
        '{"type":"exit","device":"tag","place":"park","time":"2024-05-01T18:06:00Z"}',
    ]


def test_replay_confirmation_options_and_until(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Confirmation by fixes only in practice (a day of time): the tag's single fixes on
    # each side never confirm; the phone's two inside fixes confirm at the second, its
    # third outside fix (17:20, LHR, CDG) the exit.
    day = ["--enter-s", "86400", "--exit-s", "86400"]
    assert main([*files(tmp_path), *day]) == 0
    assert capsys.readouterr().out.splitlines() == [
        '{"type":"enter","device":"phone","place":"home","time":"2024-05-01T17:09:00Z"}',
        '{"type":"exit","device":"phone","place":"home","time":"2024-05-01T20:20:00Z"}',
    ]
    # --until before the tag's exit is due: it stays pending, not printed.
    assert main([*files(tmp_path), "--until", "2024-05-01T18:10:00Z"]) == 0
    assert [json.loads(x)["time"] for x in capsys.readouterr().out.splitlines()][-1] == (
        "2024-05-01T17:25:00Z"
    )
    assert main([*files(tmp_path), "--exit-fixes", "0"]) == 2
    assert "exit_fixes must be in [1, 100]" in capsys.readouterr().err
    assert main([*files(tmp_path), "--until", "2024-05-01T18:10:00"]) == 2
    assert "--until has no timezone" in capsys.readouterr().err


def test_replay_with_airports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # LHR: one fix inside at 19:00, confirmed by time at 19:03 (the next fix is the
    # landing at CDG); the landing confirms leaving LHR and arriving at CDG at once.
    assert main([*files(tmp_path), "--airports"]) == 0
    assert capsys.readouterr().out.splitlines()[-4:] == [
        '{"type":"airport_arrival","device":"phone","place":"LHR","time":"2024-05-01T19:03:00Z"}',
        '{"type":"airport_departure","device":"phone","place":"LHR","time":"2024-05-01T20:20:00Z"}',
        '{"type":"flight_landed","device":"phone","place":"CDG","time":"2024-05-01T20:20:00Z"}',
        '{"type":"airport_arrival","device":"phone","place":"CDG","time":"2024-05-01T20:20:00Z"}',
    ]


def test_replay_with_dwell(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # home: surely inside at 17:05 and 17:09, next seen outside at 17:20. A dwell is now
    # served by time too (nothing contrary came before 17:05 + dwell): 300 s -> enter at
    # 17:10; 1,200 s would end at 17:25, after the outside fix: no enter, no exit.
    assert main([*files(tmp_path), "--dwell", "300"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        '{"type":"enter","device":"phone","place":"home","time":"2024-05-01T17:10:00Z"}'
    )
    assert main([*files(tmp_path), "--dwell", "1200"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [line for line in out if '"home"' not in line]
    assert main([*files(tmp_path), "--dwell", "240"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        '{"type":"enter","device":"phone","place":"home","time":"2024-05-01T17:09:00Z"}'
    )


@pytest.mark.parametrize(
    ("track", "message"),
    [
        ("device,time,lat,lon\n", "line 1: header must be"),
        (
            TRACK + "phone,2024-05-01T21:00:00Z,north,2,,\n",
            "track.csv line 10: lat is not a number: 'north'",
        ),
        (TRACK + "phone,yesterday,49,2,,\n", "line 10: time is not ISO 8601"),
        (TRACK + "phone,2024-05-01T21:00:00,49,2,,\n", "line 10: time has no timezone"),
        (TRACK + "phone,2024-05-01T21:00:00Z,49,2,5\n", "line 10: expected 6 fields, got 5"),
        (TRACK + "phone,2024-05-01T21:00:00Z,95,2,5,\n", "line 10: position out of range"),
    ],
)
def test_bad_track_exits_2_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], track: str, message: str
) -> None:
    assert main(files(tmp_path, track=track)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err


def test_bad_places_exit_2_naming_the_feature(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = json.loads(json.dumps(PLACES))
    del bad["features"][0]["properties"]["radius_m"]
    assert main(files(tmp_path, places=bad)) == 2
    assert (
        "feature 0 (id 'home'): a Point place needs properties.radius_m" in capsys.readouterr().err
    )
    (tmp_path / "places.geojson").write_text("{not json")
    args = files(tmp_path)
    (tmp_path / "places.geojson").write_text("{not json")
    assert main(args) == 2
    assert "not valid JSON" in capsys.readouterr().err
    args[args.index("--track") + 1] = str(tmp_path / "missing.csv")
    (tmp_path / "places.geojson").write_text(json.dumps(PLACES))
    assert main(args) == 2
    assert "missing.csv: cannot read" in capsys.readouterr().err
