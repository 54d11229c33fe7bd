"""Account deletion as the terms describe it, end to end: the code arrives by email at a real
SMTP server (aiosmtpd, in this process), nothing is purged until it is confirmed, an expired
code is refused, and the confirmation purges history and events and says so."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import Message

import aiohttp
import pytest

from .. import services
from .mailbox import Inbox, smtp_server
from .member_client import Api

pytestmark = pytest.mark.integration


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as server:
        yield server


def count(table: str, device: int) -> int:
    with services.connect() as conn:
        row = conn.execute(
            f"select count(*) from {table} where device_id = %s", (device,)
        ).fetchone()
    assert row is not None
    return int(row[0])


async def wait_for_mail(inbox: Inbox, n: int) -> Message:
    for _ in range(100):
        if len(inbox.messages) >= n:
            return inbox.messages[n - 1]
        await asyncio.sleep(0.05)
    raise AssertionError("no email arrived")


def code_of(message: Message) -> str:
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    found = re.search(r"Confirmation code: (\d{8})", body.decode())
    assert found is not None, body
    return found.group(1)


async def test_account_deletion_end_to_end(db_url: str, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    s = services.settings(db_url, smtp={"host": "127.0.0.1", "port": port, "sender": "gw@test"})
    async with services.running_gateway(s), aiohttp.ClientSession() as http:
        api = Api(http, s.http.port)
        account, token = await api.member("leaving")
        owner, owner_token = await api.member("owner")
        circle = await api.circle(owner_token)
        await api.join(owner_token, circle, token)
        device = await api.device(token, "owntracks", f"leaving/{services.unique('p')}")
        now = datetime.now(UTC)
        with services.connect() as conn, conn.cursor() as cur:
            cur.executemany(
                "insert into positions (device_id, fix_time, received_at, lat, lon, valid)"
                " values (%s, %s, now(), 52.5, 13.4, true)",
                [(device, now - timedelta(minutes=i)) for i in range(7)],
            )
            cur.executemany(
                "insert into events (device_id, circle_id, kind, time) values (%s, %s, %s, %s)",
                [(device, circle, "alarm:sos", now - timedelta(minutes=i)) for i in range(3)],
            )
        # asking sends the code; nothing is purged
        r = await api.call("DELETE", "/v1/me", token)
        assert r.status == 202, r.body
        assert "not cancel" in r.body["subscription"]
        message = await wait_for_mail(inbox, 1)
        me = (await api.call("GET", "/v1/me", token)).body
        assert message["To"] == me["email"]
        assert message["From"] == "gw@test"
        first = code_of(message)
        assert (count("positions", device), count("events", device)) == (7, 3)
        # a wrong code purges nothing either
        wrong = "00000000" if first != "00000000" else "11111111"
        r = await api.call("POST", "/v1/me/deletion", token, json={"code": wrong})
        assert (r.status, r.problem) == (403, "deletion-code-invalid")
        assert (count("positions", device), count("events", device)) == (7, 3)
        # an expired code is refused
        with services.connect() as conn:
            conn.execute(
                "update deletion_requests set expires_at = now() - interval '1 s'"
                " where account_id = %s",
                (account,),
            )
        r = await api.call("POST", "/v1/me/deletion", token, json={"code": first})
        assert (r.status, r.problem) == (410, "deletion-code-expired")
        assert (count("positions", device), count("events", device)) == (7, 3)
        # ask again: a new code; confirming it purges, and says what
        assert (await api.call("DELETE", "/v1/me", token)).status == 202
        second = code_of(await wait_for_mail(inbox, 2))
        r = await api.call("POST", "/v1/me/deletion", token, json={"code": second})
        assert r.status == 200, r.body
        assert r.body["deleted"]["positions"] == 7
        assert r.body["deleted"]["events"] == 3
        assert r.body["deleted"]["devices_deactivated"] == 1
        assert r.body["deleted"]["memberships"] == 1
        assert r.body["subscription_cancelled"] is False
        assert "does not cancel a paid subscription" in r.body["subscription"]
        assert (count("positions", device), count("events", device)) == (0, 0)
        # the token died with the account; the owner's circle no longer lists it
        assert (await api.call("GET", "/v1/me", token)).status == 401
        members = await api.call("GET", f"/v1/circles/{circle}/members", owner_token)
        assert [m["account"] for m in members.body["items"]] == [owner]


async def test_deletion_without_a_reachable_smtp_server_is_503(db_url: str) -> None:
    s = services.settings(db_url, smtp={"host": "127.0.0.1", "port": services.free_port()})
    async with services.running_gateway(s), aiohttp.ClientSession() as http:
        api = Api(http, s.http.port)
        _, token = await api.member("nomail")
        r = await api.call("DELETE", "/v1/me", token)
        assert (r.status, r.problem) == (503, "email-unavailable")
        assert (await api.call("GET", "/v1/me", token)).status == 200


async def test_guessing_the_code_voids_the_request(db_url: str, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    s = services.settings(db_url, smtp={"host": "127.0.0.1", "port": port})
    async with services.running_gateway(s), aiohttp.ClientSession() as http:
        api = Api(http, s.http.port)
        _, token = await api.member("guessed")
        assert (await api.call("DELETE", "/v1/me", token)).status == 202
        code = code_of(await wait_for_mail(inbox, 1))
        wrong = f"{(int(code) + 1) % 10**8:08d}"
        for _ in range(5):
            r = await api.call("POST", "/v1/me/deletion", token, json={"code": wrong})
            assert r.status == 403
        r = await api.call("POST", "/v1/me/deletion", token, json={"code": code})
        assert (r.status, r.problem) == (403, "deletion-code-invalid")
        assert (await api.call("GET", "/v1/me", token)).status == 200
