"""Issue 2: the first ingestion path and the local services, on the real TimescaleDB and
Mosquitto."""

from __future__ import annotations

import asyncio
import json
import time

import aiomqtt
import psycopg
import pytest

from gateway import metrics

from .. import services

pytestmark = pytest.mark.integration


def test_positions_is_a_hypertable(db_url: str) -> None:
    with services.connect(db_url) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "select hypertable_name from timescaledb_information.hypertables"
            ).fetchall()
        ]
    assert "positions" in names


def test_migrate_is_rerunnable(db_url: str) -> None:
    from gateway.store import migrate

    assert migrate.migrate(db_url) == []
    with services.connect(db_url) as conn:
        versions = [
            r[0]
            for r in conn.execute(
                "select version from schema_migrations order by version"
            ).fetchall()
        ]
    assert versions == [m.version for m in migrate.available()]


async def test_owntracks_location_over_mqtt_lands_in_timescaledb(db_url: str) -> None:
    device = services.unique("phone")
    key = f"alice/{device}"
    device_id = services.provision("owntracks", key)
    s = services.settings(db_url)
    tst = int(time.time()) - 60
    payload = {
        "_type": "location",
        "tst": tst,
        "lat": 48.858,
        "lon": 2.2945,
        "acc": 15,
        "alt": 35,
        "vel": 4,
        "cog": 90,
        "batt": 77,
        "tid": "al",
    }
    async with services.running_gateway(s):
        async with services.mqtt_client("alice") as phone:
            await phone.publish(f"owntracks/{key}", json.dumps(payload), qos=1)
        await services.wait_until(lambda: services.count_positions(device_id) == 1)
    with services.connect(db_url) as conn:
        row = conn.execute(
            "select extract(epoch from fix_time)::bigint, lat, lon, accuracy_m, altitude_m,"
            " speed_kmh, course_deg, battery_pct from positions where device_id = %s",
            (device_id,),
        ).fetchone()
        latest = conn.execute(
            "select lat, lon from latest_positions where device_id = %s", (device_id,)
        ).fetchone()
    assert row == (tst, 48.858, 2.2945, 15.0, 35.0, 4.0, 90.0, 77.0)
    assert latest == (48.858, 2.2945)


async def test_bad_and_unknown_messages_are_counted_and_do_not_stop_ingestion(db_url: str) -> None:
    known = f"alice/{services.unique('phone')}"
    device_id = services.provision("owntracks", known)
    unknown = f"alice/{services.unique('stranger')}"
    s = services.settings(db_url)

    def rejected() -> float:
        return sum(
            sample.value
            for metric in metrics.frames_rejected.collect()
            for sample in metric.samples
            if sample.name.endswith("_total") and sample.labels["protocol"] == "owntracks"
        )

    def refused() -> float:
        return float(metrics.devices_refused.labels("owntracks", "unknown")._value.get())

    before_rejected, before_refused = rejected(), refused()
    good = {"_type": "location", "tst": int(time.time()) - 5, "lat": 1.5, "lon": 2.5}
    async with services.running_gateway(s):
        async with services.mqtt_client("alice") as phone:
            await phone.publish(f"owntracks/{known}", b"{not json", qos=1)
            await phone.publish(f"owntracks/{unknown}", json.dumps(good), qos=1)
            await phone.publish(f"owntracks/{unknown}", json.dumps(good), qos=1)
            await phone.publish(f"owntracks/{known}", json.dumps(good), qos=1)
        await services.wait_until(lambda: services.count_positions(device_id) == 1)
    assert rejected() == before_rejected + 1
    assert refused() == before_refused + 2


async def test_acl_refuses_a_phone_publishing_under_another_users_topic() -> None:
    received: list[str] = []
    async with services.mqtt_client(services.GATEWAY_USER[0]) as watcher:
        await watcher.subscribe("owntracks/#", qos=1)

        got_own = asyncio.Event()

        async def collect() -> None:
            async for message in watcher.messages:
                received.append(str(message.topic))
                if str(message.topic) == "owntracks/alice/phone":
                    got_own.set()

        task = asyncio.create_task(collect())
        async with services.mqtt_client("alice") as alice:
            await alice.publish("owntracks/bob/phone", b'{"_type":"location"}', qos=1)
            await alice.publish("owntracks/alice/phone", b'{"_type":"location"}', qos=1)
        await asyncio.wait_for(got_own.wait(), 5)
        await asyncio.sleep(0.3)  # give a wrongly delivered message time to arrive too
        task.cancel()
    assert received == ["owntracks/alice/phone"]


async def test_wrong_password_is_refused() -> None:
    with pytest.raises(aiomqtt.MqttError):
        async with services.mqtt_client("alice", "wrong"):
            pass


def test_unreachable_database_is_a_clear_cli_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway import cli

    monkeypatch.setenv(
        "TRACKGW_DATABASE_URL", f"postgresql://trackgw@127.0.0.1:{services.free_port()}/trackgw"
    )
    assert cli.main(["devices", "list"]) == 1
    assert "cannot reach the database" in capsys.readouterr().err
    _ = psycopg  # the CLI reports psycopg's error text
