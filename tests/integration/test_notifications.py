"""Issue 12 on the real services (TimescaleDB, Mosquitto, an SMTP server in this process):
device alarms reach each in-plan member's topic and the opted-in members' mailboxes once
though the device resends them; a Free circle's third member gets nothing; phone battery low
with hysteresis; a member's rule delivers what it names and nothing else; the rules API goes
through the circle's access check; the outbox retries while SMTP is down and delivers once."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any

import aiohttp
import pytest

from gateway.store import accounts as accounts_store
from gateway.store import admin
from protocols import simulate as sim
from protocols.watch import SPEC as WATCH_SPEC

from .. import services
from .live_client import SseReader
from .mailbox import Inbox, smtp_server
from .member_client import Api
from .test_alerts import HOME, Listener, circle_with_place, offset

pytestmark = pytest.mark.integration

#: [V181] (GT06 protocol v1.8, Concox) §5.4, the alarm packet example: protocol 0x16, SOS
#: (alarm/language byte 0x01), 2011-11-15 14:36:29, serial 0x0036 -- as printed there (the
#: same bytes as tests/unit/protocols/test_gt06.py ALARM_16)
GT06_SOS = bytes.fromhex(
    "787825160B0B0F0E241DCF027AC8870C4657E60014020901CC00287D001F726506040101003656A40D0A"
)


def watch_al(device: str, second: int = 53) -> bytes:
    """ "Beesure GPS SeTracker Server Protocol" (4P-Touch), "4. Alarm data report": status
    00100018, the remove-watch alarm. The vendor's id 8800000015 is replaced by ``device``
    (the same 10 digits long: the frame's LEN counts the content after the id, unchanged);
    ``second`` (two digits) replaces the time's seconds, for distinct alarms."""
    assert len(device) == 10
    assert 0 <= second < 60
    return (
        b"[3G*"
        + device.encode()
        + b"*00CD*AL,180916,0641"
        + b"%02d" % second
        + b",A,22.570512,N,113.8623267,E,0.00,"
        b"154.8,0.0,11,100,100,0,0,00100018,7,0,460,1,9529,21809,155,9529,21242,132,9529,21405,"
        b"131,9529,63554,131,9529,63555,130,9529,63556,118,9529,21869,116,0,12.4]"
    )


def watch_kinds(frame: bytes) -> list[str]:
    """The alarm kinds the watch decoder makes of ``frame`` (what members should be told)."""
    from protocols.model import DeviceEvent

    session = WATCH_SPEC.new_session("tcp", None)
    return [f"alarm:{m.kind}" for m in session.receive(frame) if isinstance(m, DeviceEvent)]


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as server:
        yield server


def notify_settings(port: int, **notify: Any) -> dict[str, Any]:
    return {
        "smtp": {"host": "127.0.0.1", "port": port, "sender": "gw@test", "timeout_s": 3.0},
        "notify": {
            "poll_s": 0.2,
            "retry_initial_s": 0.5,
            "retry_max_s": 2.0,
            "watch_tick_s": 0.5,
            "live_url": "https://track.example/",
            **notify,
        },
    }


def opt_in(account: str, email: str | None = None) -> str:
    address = email or f"{account}@example.org"
    with services.connect() as conn:
        conn.execute(
            "update accounts set email = %s, notify_email = true where id = %s", (address, account)
        )
    return address


def set_email(account: str) -> str:
    address = f"{account}@example.org"
    with services.connect() as conn:
        conn.execute("update accounts set email = %s where id = %s", (address, account))
    return address


def mails_to(inbox: Inbox, address: str) -> list[Message]:
    return [m for m in inbox.messages if m["To"] == address]


def parts(message: Message) -> dict[str, str]:
    out = {}
    for part in message.walk():
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            out[part.get_content_type()] = payload.decode()
    return out


def outbox_rows(circle: str) -> list[tuple[str, str, str, str]]:
    with services.connect() as conn:
        return conn.execute(
            "select recipient, channel, kind, status from notifications where circle_id = %s",
            (circle,),
        ).fetchall()


def stored_once(device_id: int) -> bool:
    return services.count_positions(device_id) == 1


async def send_three_times(port: int, data: bytes, login: bytes | None, reply_len: int) -> None:
    """Connect, (log in,) send ``data`` three times, each after the last was acknowledged:
    the resend pattern of a tracker whose alarm was not acknowledged yet."""
    for _ in range(3):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            if login is not None:
                writer.write(login)
                await writer.drain()
                await asyncio.wait_for(reader.readexactly(10), 10)
            writer.write(data)
            await writer.drain()
            await asyncio.wait_for(reader.readexactly(reply_len), 10)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()


async def test_device_alarms_reach_in_plan_members_once(
    db_url: str, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    first, second, third = (services.unique("acct") for _ in range(3))
    circle = circle_with_place([first, second, third])  # Free: its first two members
    imei = services.unique_imei()
    watch_id = str(int(imei[-10:]) % 9_000_000_000 + 1_000_000_000)
    with services.connect() as conn:
        admin.add_device(conn, "gt06", imei, first)
        admin.add_device(conn, "watch", watch_id, second)  # Free: one tag per account
        conn.execute("update circles set name = 'The Family' where id = %s", (circle,))
    mail_first = set_email(first)  # has an address, did not opt in: MQTT only
    mail_second = opt_in(second)
    mail_third = opt_in(third)  # opted in, but beyond the Free plan's member limit
    kinds = ["alarm:sos", *watch_kinds(watch_al(watch_id))]
    assert "alarm:removing" in kinds
    s = services.settings(db_url, **notify_settings(port))
    member_topics = {a: f"circles/{circle}/members/{a}/alerts" for a in (first, second, third)}
    async with services.connect_async() as conn:  # the second member's app, signed in
        token, _ = await accounts_store.create_token(
            conn, second, "app", datetime.now(UTC) + timedelta(hours=1)
        )
    async with (
        services.running_gateway(s),
        Listener(f"circles/{circle}/members/+/alerts") as app,
        aiohttp.ClientSession() as http,
    ):
        stream = await SseReader.open(
            http, f"http://127.0.0.1:{s.http.port}/v1/circles/{circle}/live", token
        )
        assert (await stream.next()).kind == "snapshot"
        await send_three_times(s.ports.gt06, GT06_SOS, sim.gt06_login(imei, 1), 10)
        reply = b"[3G*" + watch_id.encode() + b"*0002*AL]"
        await send_three_times(s.ports.watch, watch_al(watch_id), None, len(reply))
        await services.wait_until(
            lambda: (
                len(app.of(member_topics[second])) >= len(kinds)
                and len(mails_to(inbox, mail_second)) >= len(kinds)
            ),
            within=20,
        )
        live = [(await stream.until("alert")).data["type"] for _ in kinds]
        await asyncio.sleep(2.0)  # anything more would have come by now
        with pytest.raises(TimeoutError):
            await stream.until("alert", within=1.0)  # and no repeat on the stream either
        stream.close()
    assert Counter(live) == Counter(kinds)  # the live stream too, each alarm once
    for member in (first, second):
        got = Counter(a["type"] for a in app.of(member_topics[member]))
        assert got == Counter(kinds), (member, got, app.received)
    sos = next(a for a in app.of(member_topics[second]) if a["type"] == "alarm:sos")
    assert sos["device"] == imei
    assert sos["member"] == first
    assert sos["circle"] == circle
    assert sos["position"]["lat"] == pytest.approx(23.111755, abs=1e-5)  # 0x027AC887 / 1.8e6
    assert app.of(member_topics[third]) == []
    assert mails_to(inbox, mail_third) == []
    assert mails_to(inbox, mail_first) == []
    mails = mails_to(inbox, mail_second)
    assert len(mails) == len(kinds)
    assert len({m["Message-ID"] for m in mails}) == len(kinds)
    body = parts(next(m for m in mails if "SOS" in m["Subject"]))
    assert "The Family" in body["text/plain"]
    assert "https://track.example/" in body["text/plain"]
    assert "The Family" in body["text/html"]
    assert 'href="https://track.example/"' in body["text/html"]
    rows = outbox_rows(circle)
    assert all(status == "sent" for *_, status in rows)
    assert Counter((r, c) for r, c, _, _ in rows) == {
        (first, "mqtt"): len(kinds),
        (second, "mqtt"): len(kinds),
        (second, "email"): len(kinds),
    }


async def test_phone_battery_low_is_told_once_with_hysteresis(db_url: str) -> None:
    owner, other = services.unique("acct"), services.unique("acct")
    circle = circle_with_place([owner, other])
    key = f"alice/{services.unique('phone')}"
    with services.connect() as conn:
        admin.add_device(conn, "owntracks", key, owner)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    far = offset(*HOME, 2000)
    # 30 -> 15 (low) -> 15, 14, 20 (still low: no repeat) -> 25 (re-armed) -> 12 (low again)
    levels = [30, 15, 15, 14, 20, 25, 12]
    topic = f"circles/{circle}/members/{other}/alerts"
    async with (
        services.running_gateway(services.settings(db_url)),
        Listener(topic) as app,
    ):
        async with services.mqtt_client("alice") as phone:
            for i, level in enumerate(levels):
                fix = sim.Fix(start + timedelta(minutes=i), far[0] + i * 1e-4, far[1])
                await phone.publish(
                    f"owntracks/{key}", sim.owntracks_location(fix, 10, level), qos=1
                )
        await services.wait_until(lambda: len(app.of(topic)) >= 2)
        await asyncio.sleep(1.5)
    got = [(a["type"], a["details"]["battery_pct"]) for a in app.of(topic)]
    assert got == [("battery_low", 15.0), ("battery_low", 12.0)]


SCHOOL = (52.5300, 13.4100)


async def test_a_rule_only_when_anna_leaves_school(db_url: str) -> None:
    s = services.settings(db_url, notify={"poll_s": 0.2})
    async with services.running_gateway(s), aiohttp.ClientSession() as http:
        api = Api(http, s.http.port)
        parent, parent_token = await api.member("parent")
        anna, anna_token = await api.member("anna")
        circle = await api.circle(parent_token)
        await api.join(parent_token, circle, anna_token)
        school = await api.call(
            "POST",
            f"/v1/circles/{circle}/places",
            parent_token,
            json={
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [SCHOOL[1], SCHOOL[0]]},
                "properties": {"name": "school", "radius_m": 150},
            },
        )
        assert school.status == 201, school.body
        place_id = str(school.body["id"])
        rule = await api.call(
            "POST",
            f"/v1/circles/{circle}/rules",
            parent_token,
            json={"kinds": ["exit"], "places": [place_id], "members": [anna], "channels": ["mqtt"]},
        )
        assert rule.status == 201, rule.body
        listed = await api.call("GET", f"/v1/circles/{circle}/rules", parent_token)
        assert [r["id"] for r in listed.body["items"]] == [rule.body["id"]]
        # the rules are the member's own, in a circle they belong to
        _outsider, outsider_token = await api.member("outsider")
        refused = await api.call("GET", f"/v1/circles/{circle}/rules", outsider_token)
        assert refused.status == 404
        bad = await api.call(
            "POST", f"/v1/circles/{circle}/rules", parent_token, json={"kinds": ["nonsense"]}
        )
        assert bad.status == 400
        key = f"alice/{services.unique('anna')}"
        with services.connect() as conn:
            admin.add_device(conn, "owntracks", key, anna)
        await asyncio.sleep(0.5)  # the device's NOTIFY reaches the directory and snapshot
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
        there_and_away = [
            (*offset(*SCHOOL, n), 8.0)
            for n in (600, 400, 0, 5, 0, 10, 0, 5, 0, 5, 400, 600, 800, 900, 1000)
        ]
        topics = [
            f"circles/{circle}/members/{parent}/alerts",
            f"circles/{circle}/members/{anna}/alerts",
        ]
        async with Listener(*topics) as app:
            # a battery low of Anna's too: the rule does not name it, so the parent is not told
            async with services.mqtt_client("alice") as phone:
                for i, (lat, lon, acc) in enumerate(there_and_away):
                    fix = sim.Fix(start + timedelta(minutes=2 * i), lat, lon)
                    level = 10 if i == 1 else 80
                    await phone.publish(
                        f"owntracks/{key}", sim.owntracks_location(fix, int(acc), level), qos=1
                    )
            await services.wait_until(lambda: len(app.of(topics[1])) >= 3, within=20)
            await asyncio.sleep(1.5)
        # Anna has no rules: the defaults (every safety event)
        assert sorted(a["type"] for a in app.of(topics[1])) == ["battery_low", "enter", "exit"]
        got = app.of(topics[0])
        assert [(a["type"], a["place"]["id"]) for a in got] == [("exit", place_id)]
        mine = await api.call("GET", "/v1/me/notifications", parent_token)
        assert mine.status == 200
        assert [(n["kind"], n["channel"], n["status"]) for n in mine.body["items"]] == [
            ("exit", "mqtt", "sent")
        ]


async def test_smtp_down_for_a_while_every_notification_once_after(db_url: str) -> None:
    port = services.free_port()
    owner, other = services.unique("acct"), services.unique("acct")
    circle = circle_with_place([owner, other])
    address = opt_in(other)
    watch_id = str(int(services.unique_imei()[-10:]) % 9_000_000_000 + 1_000_000_000)
    with services.connect() as conn:
        admin.add_device(conn, "watch", watch_id, owner)
    # retries every 0.5-2 s; 40 attempts outlast the 20 s outage
    s = services.settings(db_url, **notify_settings(port, max_attempts=40))
    inbox = Inbox()
    reply = b"[3G*" + watch_id.encode() + b"*0002*AL]"
    async with services.running_gateway(s):
        reader, writer = await asyncio.open_connection("127.0.0.1", s.ports.watch)
        for second in range(10, 15):  # five distinct alarms while nobody listens on SMTP
            writer.write(watch_al(watch_id, second))
            await writer.drain()
            assert await asyncio.wait_for(reader.readexactly(len(reply)), 10) == reply
        writer.close()
        await services.wait_until(lambda: _attempted(circle) >= 5, within=20)
        await asyncio.sleep(20.0)  # the SMTP server stays down for 20 s
        assert inbox.messages == []
        from aiosmtpd.controller import Controller

        controller = Controller(inbox, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            await services.wait_until(lambda: len(mails_to(inbox, address)) >= 5, within=30)
            await asyncio.sleep(3.0)
        finally:
            controller.stop()
    assert len(mails_to(inbox, address)) == 5
    # (other pending rows of this test run may reach the same server: only this member's)
    assert len({m["Message-ID"] for m in mails_to(inbox, address)}) == 5
    with services.connect() as conn:
        rows = conn.execute(
            "select status, attempts > 1 from notifications where recipient = %s"
            " and channel = 'email'",
            (other,),
        ).fetchall()
    assert rows == [("sent", True)] * 5


def _attempted(circle: str) -> int:
    with services.connect() as conn:
        row = conn.execute(
            "select count(*) from notifications where circle_id = %s and channel = 'email'"
            " and attempts >= 1 and last_error is not null",
            (circle,),
        ).fetchone()
    assert row is not None
    return int(row[0])


async def test_a_pending_exit_of_a_silent_phone_is_confirmed_by_time_after_a_restart(
    db_url: str,
) -> None:
    """Inside home, then one fix outside and silence: the exit is pending (one of the three
    fixes it needs). The gateway stops (no timer ran); the pending exit was stored with the
    state (exit_since, pending_fixes), so the next gateway's timer confirms it at its due
    instant (first outside fix + 5 min) -- one exit, no second enter."""
    owner, other = services.unique("acct"), services.unique("acct")
    circle = circle_with_place([owner, other])
    key = f"alice/{services.unique('phone')}"
    with services.connect() as conn:
        device_id = admin.add_device(conn, "owntracks", key, owner).id
    now = datetime.now(UTC).replace(microsecond=0)
    track = [(now - timedelta(minutes=30 - i), *HOME) for i in range(4)]
    track.append((now - timedelta(minutes=10), *offset(*HOME, 400)))
    topic = f"circles/{circle}/members/{other}/alerts"
    async with Listener(topic) as app:
        async with services.running_gateway(
            services.settings(db_url, notify={"confirm_every_s": 0.0})
        ):
            async with services.mqtt_client("alice") as phone:
                for when, lat, lon in track:
                    await phone.publish(
                        f"owntracks/{key}", sim.owntracks_location(sim.Fix(when, lat, lon)), qos=1
                    )
            await services.wait_until(lambda: services.count_positions(device_id) == 5)
            await services.wait_until(lambda: len(app.of(topic)) >= 1)
            await asyncio.sleep(1.0)
        assert [a["type"] for a in app.of(topic)] == ["enter"]
        with services.connect() as conn:
            stored = conn.execute(
                "select inside, exit_since, pending_fixes from geofence_state"
                " where device_id = %s and not airport",
                (device_id,),
            ).fetchall()
        assert stored == [(True, now - timedelta(minutes=10), 1)]
        async with services.running_gateway(
            services.settings(db_url, notify={"confirm_every_s": 0.5})
        ):
            await services.wait_until(lambda: len(app.of(topic)) >= 2)
            await asyncio.sleep(1.5)
    alerts = app.of(topic)
    assert [a["type"] for a in alerts] == ["enter", "exit"]
    assert alerts[1]["time"] == (now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert alerts[1]["position"]["lat"] == pytest.approx(offset(*HOME, 400)[0])


async def test_an_owntracks_lwt_is_a_hint_for_tracking_stopped(db_url: str) -> None:
    """The phone's interval is an hour; the broker publishes its last will (OwnTracks
    ``_type: lwt``) when its connection dies: "tracking stopped" is due ``lwt_grace_s`` later
    instead. A second phone reports again after its lwt: that cancels the hint."""
    owner, other = services.unique("acct"), services.unique("acct")
    circle = circle_with_place([owner, other])
    keys = [f"alice/{services.unique('phone')}" for _ in range(2)]
    with services.connect() as conn:
        ids = [admin.add_device(conn, "owntracks", k, owner).id for k in keys]
    s = services.settings(db_url, notify={"lwt_grace_s": 2, "watch_tick_s": 0.3, "poll_s": 0.2})
    topic = f"circles/{circle}/members/{other}/alerts"
    now = datetime.now(UTC).replace(microsecond=0)
    far = offset(*HOME, 3000)
    lwt = json.dumps({"_type": "lwt", "tst": int(now.timestamp()) - 600}).encode()
    async with services.running_gateway(s), Listener(topic) as app:
        async with services.mqtt_client("alice") as phone:
            for device_id, key in zip(ids, keys, strict=True):
                fix = sim.Fix(now - timedelta(seconds=30), *far)
                await phone.publish(f"owntracks/{key}", sim.owntracks_location(fix), qos=1)
                await services.wait_until(functools.partial(stored_once, device_id))
                await phone.publish(f"owntracks/{key}", lwt, qos=1)
            await asyncio.sleep(0.5)
            fix = sim.Fix(now, far[0] + 1e-4, far[1])  # the second phone is back at once
            await phone.publish(f"owntracks/{keys[1]}", sim.owntracks_location(fix), qos=1)
        await services.wait_until(lambda: len(app.of(topic)) >= 1)
        await asyncio.sleep(3.0)
    got = [(a["type"], a["device"]) for a in app.of(topic)]
    assert got == [("tracking_stopped", keys[0])]
