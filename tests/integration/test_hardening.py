"""Issue 9 on the real services: dead letters, floods of unknown ids, a device deactivated
while connected, alarms deduplicated on resend. Loads are bounded and loopback only."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from gateway import metrics
from gateway.store import writer
from gateway.supervisor import TaskFailed
from protocols import simulate as sim

from .. import services
from ..devices import TeltonikaClient, fixes

pytestmark = pytest.mark.integration


def metric(name: str, **labels: str) -> float:
    value = metrics.REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


def teltonika_datagram(imei: str, track: list[sim.Fix], packet_id: int = 0xCAFE) -> bytes:
    """Teltonika's UDP channel header (length, packet id, not usable byte, AVL packet id,
    IMEI) around the AVL data of ``track``."""
    avl = sim.teltonika_avl(track)
    body = (
        packet_id.to_bytes(2, "big")
        + b"\x01"
        + b"\x07"
        + len(imei).to_bytes(2, "big")
        + imei.encode()
        + avl[8:-4]
    )
    return len(body).to_bytes(2, "big") + body


# -- dead letters -------------------------------------------------------------------------------

TRACKERS = 20
RECORDS = 250  # per packet: 20 x 250 = one batch of 5,000
POISON_ALTITUDE = 4321


async def test_one_refused_row_in_a_5000_row_batch_is_dead_lettered_and_the_rest_acked(
    db_url: str,
) -> None:
    """A constraint the database enforces (standing in for any data or integrity error) refuses
    one record of 5,000 that arrive in one batch: 4,999 are stored, every packet is
    acknowledged in full, and the refused record is in dead_letters with the error and the
    bytes it came in, counted in trackgw_dead_letters_total."""
    imeis = [services.unique_imei() for _ in range(TRACKERS)]
    ids = [services.provision("teltonika", imei) for imei in imeis]
    start = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)
    tracks = [fixes(RECORDS, start=start) for _ in imeis]
    bad = tracks[7][123]
    tracks[7][123] = replace(bad, altitude_m=POISON_ALTITUDE)
    packets = [sim.teltonika_avl(t) for t in tracks]
    with services.connect() as conn:
        conn.execute(
            "alter table positions add constraint test_poison_altitude"
            f" check (altitude_m is distinct from {POISON_ALTITUDE})"
        )
    s = services.settings(db_url, pipeline={"batch_max": 5000, "batch_max_age_ms": 10_000})
    dead_before = metric("trackgw_dead_letters_total", reason="check_violation")
    batches_before = metric("trackgw_batches_total")
    try:
        async with services.running_gateway(s):
            clients = [TeltonikaClient("127.0.0.1", s.ports.teltonika, i) for i in imeis]
            await asyncio.gather(*(c.connect() for c in clients))
            accepted = await asyncio.gather(
                *(c.send(t, timeout=60) for c, t in zip(clients, tracks, strict=True))
            )
            await asyncio.gather(*(c.close() for c in clients))
    finally:
        with services.connect() as conn:
            conn.execute("alter table positions drop constraint test_poison_altitude")
    assert accepted == [RECORDS] * TRACKERS  # every packet acknowledged in full
    assert metric("trackgw_batches_total") - batches_before == 1  # all 5,000 in one batch
    counts = [services.count_positions(d) for d in ids]
    assert sum(counts) == TRACKERS * RECORDS - 1
    assert counts[7] == RECORDS - 1
    assert metric("trackgw_dead_letters_total", reason="check_violation") - dead_before == 1
    with services.connect() as conn:
        rows = conn.execute(
            "select kind, device_id, protocol, reason, error, raw, row_text from dead_letters"
            " where device_id = any(%s)",
            (ids,),
        ).fetchall()
    assert len(rows) == 1
    kind, device_id, protocol, reason, error, raw, row_text = rows[0]
    assert (kind, device_id, protocol) == ("position", ids[7], "teltonika")
    assert reason == "check_violation"
    assert "test_poison_altitude" in error
    assert raw
    assert bytes(raw) in packets[7]  # the read the record came in (all or its end)
    assert str(POISON_ALTITUDE) in row_text


async def test_write_isolating_keeps_events_and_state_of_a_batch_with_a_bad_row(
    db_url: str,
) -> None:
    """The store's bisection directly: a NUL in an event's payload key is refused by the
    driver; the other rows of the batch are committed."""
    device_id = services.provision("teltonika", services.unique_imei())
    t = datetime.now(UTC).replace(microsecond=0)
    batch = writer.Batch()
    for i in range(9):
        batch.events.append(
            writer.EventRow(device_id, None, "alarm:sos", t + timedelta(seconds=i), "", {})
        )
    batch.events.insert(4, writer.EventRow(device_id, None, "alarm:sos\x00", t, "", {}))
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        await writer.prepare(conn)
        result = await writer.write_isolating(conn, batch)
    assert result.events_inserted == 9
    assert [(r.kind, r.index) for r in result.refused] == [("event", 4)]
    with services.connect() as conn:
        row = conn.execute("select count(*) from events where device_id = %s", (device_id,))
        assert row.fetchone() == (9,)


# -- alarms -------------------------------------------------------------------------------------


async def test_a_resent_device_alarm_is_stored_once(db_url: str) -> None:
    """A device alarm has no circle (NULL circle_id): before migration 005 the unique key
    treated two NULLs as distinct and a resend was stored again."""
    device_id = services.provision("gt06", services.unique_imei())
    alarm = writer.EventRow(
        device_id, None, "alarm:sos", datetime.now(UTC).replace(microsecond=0), "", {"a": 1}
    )
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        first = await writer.write(conn, writer.Batch(events=[alarm]))
        again = await writer.write(conn, writer.Batch(events=[alarm]))
    assert (first.events_inserted, again.events_inserted) == (1, 0)
    assert again.new_events == ()  # so no second alert either
    with services.connect() as conn:
        row = conn.execute("select count(*) from events where device_id = %s", (device_id,))
        assert row.fetchone() == (1,)


# -- floods -------------------------------------------------------------------------------------

FLOOD = 10_000


async def _wait_metric(name: str, labels: dict[str, str], target: float, within: float) -> None:
    deadline = time.monotonic() + within
    while metric(name, **labels) < target:
        if time.monotonic() > deadline:
            raise AssertionError(f"{name}{labels} = {metric(name, **labels)}, wanted {target}")
        await asyncio.sleep(0.05)


async def test_floods_of_unknown_ids_over_udp_and_mqtt_cost_no_rebuild(db_url: str) -> None:
    """10,000 distinct unknown ids over UDP and 10,000 over MQTT, each sent twice: no
    entitlement snapshot is rebuilt, the database is asked for at most the token bucket's
    share, each id gets at most one answer that is not from the negative cache."""
    s = services.settings(db_url, devices={"lookups_per_s": 20.0, "lookups_burst": 50})
    sources = ("database", "negative_cache", "rate_limited")
    udp = {"protocol": "teltonika", "reason": "unknown"}
    mqtt = {"protocol": "owntracks", "reason": "unknown"}
    async with services.running_gateway(s) as gw:
        await asyncio.wait_for(gw.directory.listening.wait(), 10)
        await asyncio.wait_for(gw.entitlements.listening.wait(), 10)
        rebuilds = metric("trackgw_entitlement_snapshot_rebuilds_total")
        before = {k: metric("trackgw_device_lookups_total", source=k) for k in sources}
        udp_before = metric("trackgw_devices_refused_total", **udp)
        mqtt_before = metric("trackgw_devices_refused_total", **mqtt)
        started = time.monotonic()

        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, remote_addr=("127.0.0.1", s.ports.teltonika_udp)
        )
        track = fixes(1)
        imeis = ["35" + str(10**12 + i) for i in range(FLOOD)]
        sent = 0
        for _ in range(2):
            for start in range(0, FLOOD, 100):  # paced: the kernel drops what overflows
                for imei in imeis[start : start + 100]:
                    transport.sendto(teltonika_datagram(imei, track))
                sent += 100
                deadline = time.monotonic() + 3
                while metric("trackgw_devices_refused_total", **udp) - udp_before < sent:
                    if time.monotonic() > deadline:
                        break  # lost on the wire (UDP); counted below
                    await asyncio.sleep(0.005)
        transport.close()
        udp_handled = metric("trackgw_devices_refused_total", **udp) - udp_before
        assert udp_handled >= 0.95 * 2 * FLOOD

        payload = sim.owntracks_location(fixes(1)[0])
        async with services.mqtt_client("alice") as phone:
            for _ in range(2):
                for start in range(0, FLOOD, 500):
                    await asyncio.gather(
                        *(
                            phone.publish(f"owntracks/alice/flood-{i}", payload, qos=1)
                            for i in range(start, start + 500)
                        )
                    )
        await _wait_metric("trackgw_devices_refused_total", mqtt, mqtt_before + 2 * FLOOD, 60)
        elapsed = time.monotonic() - started
        assert metric("trackgw_entitlement_snapshot_rebuilds_total") == rebuilds
        after = {k: metric("trackgw_device_lookups_total", source=k) - before[k] for k in sources}
        assert after["database"] <= s.devices.lookups_burst + s.devices.lookups_per_s * elapsed
        assert after["database"] < FLOOD / 10
        # 2 x FLOOD distinct ids: at most one answer each not from the negative cache
        assert after["database"] + after["rate_limited"] <= 2 * FLOOD
        assert sum(after.values()) >= udp_handled + 2 * FLOOD
        assert after["negative_cache"] >= sum(after.values()) - 2 * FLOOD


async def test_a_device_deactivated_while_connected_is_refused_within_a_second(
    db_url: str,
) -> None:
    imei = services.unique_imei()
    device_id = services.provision("teltonika", imei)
    s = services.settings(db_url)
    track = fixes(200)
    async with services.running_gateway(s) as gw:
        await asyncio.wait_for(gw.directory.listening.wait(), 10)
        await asyncio.wait_for(gw.entitlements.listening.wait(), 10)
        client = TeltonikaClient("127.0.0.1", s.ports.teltonika, imei)
        await client.connect()
        assert await client.send(track[:10]) == 10
        lookups = metric("trackgw_device_lookups_total", source="database")
        refused = metric("trackgw_devices_refused_total", protocol="teltonika", reason="inactive")
        with services.connect() as conn:
            conn.execute("update devices set active = false where id = %s", (device_id,))
        changed = time.monotonic()
        while True:  # the directory learns it by NOTIFY
            device = gw.directory.cached(imei)
            if device is not None and not device.active:
                break
            assert time.monotonic() - changed < 1.0, "not learnt within a second"
            await asyncio.sleep(0.01)
        rebuilds = metric("trackgw_entitlement_snapshot_rebuilds_total")
        for i in range(20):  # still connected: every packet now refused, none acknowledged
            with pytest.raises(TimeoutError):
                await client.send(track[10 + i * 5 : 15 + i * 5], timeout=0.3)
        await client.close()
        assert (
            metric("trackgw_devices_refused_total", protocol="teltonika", reason="inactive")
            - refused
            == 20
        )
        # the deactivation's own NOTIFY may still rebuild once; the 20 frames do not
        assert metric("trackgw_entitlement_snapshot_rebuilds_total") - rebuilds <= 1
        assert metric("trackgw_device_lookups_total", source="database") == lookups
    assert services.count_positions(device_id) == 10


# -- the writer's connection --------------------------------------------------------------------


async def test_the_writer_connection_has_keepalives_and_a_statement_timeout(db_url: str) -> None:
    """A half-open connection is noticed by keepalives; a statement that hangs is cancelled
    as an OperationalError (which the commit stage retries, not dead-letters)."""
    kwargs = writer.connection_kwargs(300)
    async with await psycopg.AsyncConnection.connect(db_url, **kwargs) as conn:
        cur = await conn.execute("show statement_timeout")
        assert await cur.fetchone() == ("300ms",)
        params = conn.info.get_parameters()
        assert params.get("keepalives") == "1"
        assert int(params["keepalives_idle"]) <= 10
        with pytest.raises(psycopg.OperationalError) as caught:
            await conn.execute("select pg_sleep(5)")
        assert isinstance(caught.value, psycopg.errors.QueryCanceled)
        assert not isinstance(caught.value, writer.ROW_ERRORS)


async def test_an_account_suspended_or_a_device_deleted_while_running_is_refused(
    db_url: str,
) -> None:
    """The directory also learns account status changes and deleted devices by NOTIFY."""
    account = services.unique("acct")
    imei = services.unique_imei()
    other = services.unique_imei()
    services.provision("teltonika", imei, account)
    services.provision("teltonika", other)
    s = services.settings(db_url)
    async with services.running_gateway(s) as gw:
        await asyncio.wait_for(gw.directory.listening.wait(), 10)
        assert (await gw.directory.resolve(imei, "teltonika"))[1] is None
        with services.connect() as conn:
            conn.execute("update accounts set status = 'suspended' where id = %s", (account,))
            conn.execute("delete from devices where unique_id = %s", (other,))

        def learnt() -> bool:
            device = gw.directory.cached(imei)
            return (
                device is not None
                and device.refusal == "suspended"
                and gw.directory.cached(other) is None
            )

        await services.wait_until(learnt, within=1.0)
        assert (await gw.directory.resolve(other, "teltonika")) == (None, "unknown")


async def test_the_mqtt_housekeeping_loop_ending_ends_the_gateway(db_url: str) -> None:
    """paho's keepalive/reconnect loop runs inside the mqtt-ingest task: if it dies, the
    supervisor sees mqtt-ingest fail (and serve raises, so the process would exit 1)."""
    s = services.settings(db_url, supervision={"fail_grace_s": 0.2})
    states: list[str] = []

    async def kill_housekeeping() -> None:
        async with services.running_gateway(s) as gw:
            assert gw.mqtt is not None
            misc = gw.mqtt._misc
            assert misc is not None
            misc.cancel()
            await asyncio.wait_for(gw.supervisor.failed.wait(), 5)
            states.append(gw.supervisor.state()["mqtt-ingest"])

    with pytest.raises(TaskFailed, match="mqtt-ingest"):
        await kill_housekeeping()
    assert states[0].startswith("task 'mqtt-ingest'")
