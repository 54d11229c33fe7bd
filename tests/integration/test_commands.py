"""The operator commands, as an operator runs them, against the real database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway import cli

from .. import services

pytestmark = pytest.mark.integration


@pytest.fixture
def trackgw(db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TRACKGW_DATABASE_URL", db_url)

    def run(*args: str) -> tuple[int, list[Any], str]:
        code = cli.main(list(args))
        out = capsys.readouterr()
        lines = [json.loads(line) for line in out.out.splitlines() if line.startswith("{")]
        return code, lines, out.err

    return run


def test_db_url_prints_what_the_gateway_uses(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRACKGW_DATABASE_URL", db_url)
    assert cli.main(["db", "url"]) == 0
    assert capsys.readouterr().out.strip() == db_url


def test_devices_add_and_list(trackgw) -> None:  # type: ignore[no-untyped-def]
    imei, account = services.unique_imei(), services.unique("acct")
    code, (device,), _ = trackgw(
        "devices", "add", "--protocol", "gt06", "--id", imei, "--account", account, "--name", "Van"
    )
    assert code == 0
    assert (
        device["unique_id"],
        device["protocol"],
        device["kind"],
        device["account"],
        device["name"],
        device["active"],
    ) == (imei, "gt06", "tag", account, "Van", True)
    # the same again is no change; a clash is an error
    assert (
        trackgw("devices", "add", "--protocol", "gt06", "--id", imei, "--account", account)[0] == 0
    )
    code, _, err = trackgw("devices", "add", "--protocol", "h02", "--id", imei)
    assert code == 1
    assert "already provisioned" in err
    code, _, err = trackgw("devices", "add", "--protocol", "nonsense", "--id", "x")
    assert code == 2
    assert "unknown protocol 'nonsense'" in err
    code, listed, _ = trackgw("devices", "list", "--account", account)
    assert [d["unique_id"] for d in listed] == [imei]
    phone = f"alice/{services.unique('p')}"
    assert (
        trackgw("devices", "add", "--protocol", "msgpack", "--id", phone)[1][0]["kind"] == "phone"
    )


def test_devices_get_an_http_secret_shown_once_and_stored_hashed(trackgw) -> None:  # type: ignore[no-untyped-def]
    phone = f"{services.unique('u')}/phone"
    code, out, _ = trackgw("devices", "add", "--protocol", "owntracks", "--id", phone, "--secret")
    assert code == 0
    first = out[0]["secret"]
    assert len(first) >= 40
    code, out, _ = trackgw("devices", "secret", "--id", phone, "--secret", "chosen-by-operator-1")
    assert (code, out[0]["secret"]) == (0, "chosen-by-operator-1")
    with services.connect() as conn:
        row = conn.execute(
            "select s.secret_sha256 from device_secrets s join devices d on d.id = s.device_id"
            " where d.unique_id = %s",
            (phone,),
        ).fetchone()
    assert row is not None
    assert b"chosen-by-operator-1" not in bytes(row[0])
    code, _, err = trackgw("devices", "secret", "--id", phone, "--secret", "short")
    assert code == 1
    assert "16 characters" in err
    imei = services.unique_imei()
    assert trackgw("devices", "add", "--protocol", "gt06", "--id", imei)[0] == 0
    code, _, err = trackgw("devices", "secret", "--id", imei)
    assert code == 1
    assert "do not authenticate with a secret" in err
    code, _, err = trackgw("devices", "secret", "--id", "nobody/nothing")
    assert code == 1
    assert "no device" in err


def test_circles_places_and_subscriptions(trackgw, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    owner, friend = services.unique("acct"), services.unique("acct")
    circle = services.unique("circle")
    assert trackgw("circles", "add", "--id", circle, "--owner", owner)[0] == 0
    code, (joined,), _ = trackgw("circles", "join", circle, friend)
    assert (code, joined["join_order"]) == (0, 2)
    # free: one circle per account, two places per circle
    code, _, err = trackgw("circles", "add", "--id", services.unique("c"), "--owner", owner)
    assert code == 1
    assert "free plan allows 1 circles per account" in err

    def places(*names: str) -> str:
        file = tmp_path / f"{'-'.join(names)}.geojson"
        file.write_text(
            json.dumps(
                {
                    "type": "FeatureCollection",
                    "features": [
                        {
                            "type": "Feature",
                            "geometry": {"type": "Point", "coordinates": [13.4, 52.5]},
                            "properties": {"id": n, "radius_m": 100},
                        }
                        for n in names
                    ],
                }
            )
        )
        return str(file)

    code, added, _ = trackgw("places", "add", "--circle", circle, "--geojson", places("a", "b"))
    assert (code, [p["name"] for p in added]) == (0, ["a", "b"])
    code, _, err = trackgw("places", "add", "--circle", circle, "--geojson", places("c"))
    assert code == 1
    assert "free plan allows 2 places per circle" in err
    bad = tmp_path / "bad.geojson"
    bad.write_text('{"type": "Feature", "geometry": {"type": "Point", "coordinates": [1]}}')
    assert trackgw("places", "add", "--circle", circle, "--geojson", str(bad))[0] == 2
    # a gold subscription lifts the place limit to 10
    now = datetime.now(UTC)
    subs = tmp_path / "subs.json"
    subs.write_text(
        json.dumps(
            {
                "circle": circle,
                "subscriptions": [
                    {
                        "id": services.unique("sub"),
                        "plan": "gold",
                        "cycle": "monthly",
                        "started_at": (now - timedelta(days=1)).isoformat(),
                        "current_period_end": (now + timedelta(days=29)).isoformat(),
                    }
                ],
            }
        )
    )
    with services.connect() as conn:  # a Stripe subscription the CLI must leave alone
        conn.execute(
            "insert into subscriptions (id, circle_id, plan, cycle, started_at,"
            " current_period_end, source) values (%s, %s, 'silver', 'monthly', now(),"
            " now() + interval '20 days', 'stripe')",
            ("sub_stripe_" + circle, circle),
        )
    assert trackgw("subscriptions", "set", "--file", str(subs))[0] == 0
    with services.connect() as conn:
        sources = conn.execute(
            "select source from subscriptions where circle_id = %s order by source", (circle,)
        ).fetchall()
    assert sources == [("app-store",), ("stripe",)]
    assert trackgw("places", "add", "--circle", circle, "--geojson", places("c"))[0] == 0
    code, listed, _ = trackgw("places", "list", "--circle", circle)
    assert [p["name"] for p in listed] == ["a", "b", "c"]
    with services.connect() as conn:
        plans = conn.execute(
            "select plan from entitlements where circle_id = %s", (circle,)
        ).fetchall()
    assert ("gold",) in plans


def test_accounts_delete_purges_history_and_deactivates_devices(trackgw) -> None:  # type: ignore[no-untyped-def]
    account, other = services.unique("acct"), services.unique("acct")
    circle = services.unique("circle")
    trackgw("circles", "add", "--id", circle, "--owner", account)
    with services.connect() as conn:
        conn.execute(
            "insert into places (circle_id, name, kind, geometry, radius_m) values"
            " (%s, 'home', 'circle', '{\"type\":\"Point\",\"coordinates\":[1,2]}', 50)",
            (circle,),
        )
    mine = services.provision("teltonika", services.unique_imei(), account)
    theirs = services.provision("teltonika", services.unique_imei(), other)
    now = datetime.now(UTC)
    with services.connect() as conn:
        for device in (mine, theirs):
            for i in range(3):
                conn.execute(
                    "insert into positions (device_id, fix_time, received_at, lat,"
                    " lon, valid) values (%s, %s, now(), 1, 2, true)",
                    (device, now - timedelta(minutes=i)),
                )
            conn.execute(
                "insert into latest_positions (device_id, fix_time, received_at, lat,"
                " lon, valid) values (%s, now(), now(), 1, 2, true)",
                (device,),
            )
            conn.execute(
                "insert into events (device_id, kind, time) values (%s, 'alarm:sos', now())",
                (device,),
            )
            conn.execute(
                "insert into geofence_state (device_id, place_id, inside, since)"
                " values (%s, '1', true, now())",
                (device,),
            )
    code, (report,), _ = trackgw("accounts", "delete", account)
    assert code == 0
    assert report["deleted"] == {
        "positions": 3,
        "events": 1,
        "latest_positions": 1,
        "geofence_state": 1,
        "places": 1,
        "devices_deactivated": 1,
        "memberships": 1,
        "tokens_revoked": 0,
    }
    with services.connect() as conn:
        assert conn.execute(
            "select count(*) from positions where device_id = %s", (mine,)
        ).fetchone() == (0,)
        assert conn.execute(
            "select count(*) from positions where device_id = %s", (theirs,)
        ).fetchone() == (3,)  # nobody else's history
        assert conn.execute("select active from devices where id = %s", (mine,)).fetchone() == (
            False,
        )
        assert conn.execute("select status from accounts where id = %s", (account,)).fetchone() == (
            "deleted",
        )
    assert trackgw("accounts", "delete", services.unique("nobody"))[0] == 1
