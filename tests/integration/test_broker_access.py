"""Issue 10, per-member MQTT access enforced by the broker (Mosquitto's dynamic security
plugin, deploy/local/up) and kept in step with the database by the running gateway.

Alice and Bob are members of circle A; Carol's circle B is not theirs. Each member gets a
broker client of their own from the gateway (what POST /v1/me/mqtt returns)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import aiomqtt
import pytest

from gateway import app as gateway_app
from gateway.broker import members
from gateway.store import accounts as accounts_store
from gateway.store import admin
from protocols import simulate as sim

from .. import services
from ..devices import fixes
from .test_alerts import set_plan_async

pytestmark = pytest.mark.integration

#: what a refused subscription gets in MQTT 3.1.1's SUBACK
SUBACK_FAILURE = 0x80


def codes(granted: Any) -> list[int]:
    """SUBACK return codes (aiomqtt gives paho ReasonCodes, or ints)."""
    return [int(getattr(code, "value", code)) for code in granted]


def member_client(creds: members.MemberCredentials) -> aiomqtt.Client:
    return aiomqtt.Client(
        creds.host,
        creds.port,
        username=creds.username,
        password=creds.password,
        identifier=services.unique(creds.username),
    )


class World:
    """Circle A (alice, bob, each with an OwnTracks phone), circle B (carol)."""

    def __init__(self) -> None:
        self.alice, self.bob, self.carol = (services.unique("acct") for _ in range(3))
        self.circle_a, self.circle_b = services.unique("circle"), services.unique("circle")
        self.phone = {a: f"{services.unique('u')}/phone" for a in (self.alice, self.bob)}
        with services.connect() as conn:
            for account, key in self.phone.items():
                admin.add_device(conn, "owntracks", key, account)
            admin.add_circle(conn, self.circle_a, self.alice)
            admin.join_circle(conn, self.circle_a, self.bob)
            admin.add_circle(conn, self.circle_b, self.carol)

    def device_id(self, account: str) -> int:
        with services.connect() as conn:
            device = admin.get_device(conn, self.phone[account])
        assert device is not None
        return device.id


@pytest.fixture
async def world_gateway(db_url: str) -> AsyncIterator[tuple[World, gateway_app.Gateway]]:
    world = World()
    async with services.running_gateway(services.settings(db_url)) as gw:
        assert gw.broker_access is not None
        await asyncio.wait_for(gw.broker_access.connected.wait(), 10)
        yield world, gw


def access(gw: gateway_app.Gateway) -> members.BrokerAccess:
    assert gw.broker_access is not None
    return gw.broker_access


async def test_a_member_gets_only_their_own_topics(
    world_gateway: tuple[World, gateway_app.Gateway],
) -> None:
    world, gw = world_gateway
    creds = await access(gw).provision(world.alice)
    assert creds.username == f"member-{world.alice}"
    assert creds.port == services.MQTT_PORT
    phone = world.phone[world.alice]
    assert creds.topics.publish == (f"owntracks/{phone}", f"owntracks/{phone}/#")
    mine = f"circles/{world.circle_a}/members/{world.alice}"
    # the phone's command topic (the gateway's reportLocation), then the in-plan circle's
    assert creds.topics.subscribe == (f"owntracks/{phone}/cmd", f"{mine}/alerts", f"{mine}/live/+")


async def test_subscribing_to_another_circle_is_refused_by_the_broker(
    world_gateway: tuple[World, gateway_app.Gateway],
) -> None:
    world, gw = world_gateway
    creds = await access(gw).provision(world.alice)
    b, a = world.circle_b, world.circle_a
    refused = [
        f"circles/{b}/members/{world.carol}/alerts",
        f"circles/{b}/members/{world.carol}/live",
        f"circles/{b}/alerts",
        f"circles/{b}/live",
        f"circles/{b}/#",
        f"circles/{a}/alerts",  # circle-wide topics are the operators', even of her circle
        f"circles/{a}/members/{world.bob}/alerts",  # another member's
        "circles/#",
        "owntracks/#",
        "#",
    ]
    async with member_client(creds) as client:
        for topic in refused:
            granted = await client.subscribe(topic, qos=1)
            assert codes(granted) == [SUBACK_FAILURE], topic
        own = await client.subscribe(f"circles/{a}/members/{world.alice}/alerts", qos=1)
        assert codes(own) == [1]


async def test_publishing_under_another_members_phone_is_not_delivered_nor_stored(
    world_gateway: tuple[World, gateway_app.Gateway],
) -> None:
    world, gw = world_gateway
    creds = await access(gw).provision(world.alice)
    seen: list[str] = []
    start = fixes(2)
    async with services.mqtt_client(services.GATEWAY_USER[0]) as watcher:
        await watcher.subscribe("owntracks/#", qos=1)

        async def collect() -> None:
            async for message in watcher.messages:
                seen.append(str(message.topic))

        task = asyncio.create_task(collect())
        async with member_client(creds) as alice:
            bob_topic = f"owntracks/{world.phone[world.bob]}"
            await alice.publish(bob_topic, sim.owntracks_location(start[0]), qos=1)
            own_topic = f"owntracks/{world.phone[world.alice]}"
            await alice.publish(own_topic, sim.owntracks_location(start[1]), qos=1)
        await services.wait_until(
            lambda: services.count_positions(world.device_id(world.alice)) == 1
        )
        await asyncio.sleep(0.3)  # a wrongly delivered message would have arrived by now
        task.cancel()
    assert seen == [own_topic]
    assert services.count_positions(world.device_id(world.bob)) == 0


async def test_a_removed_member_receives_nothing_more_from_the_circle(
    world_gateway: tuple[World, gateway_app.Gateway],
) -> None:
    world, gw = world_gateway
    alice = await access(gw).provision(world.alice)
    bob = await access(gw).provision(world.bob)
    live = f"circles/{world.circle_a}/members/{world.alice}/live/+"
    got: list[tuple[float, dict[str, Any]]] = []
    track = fixes(40)
    async with member_client(alice) as app:
        assert codes(await app.subscribe(live, qos=0)) == [0]

        async def collect() -> None:
            async for message in app.messages:
                got.append((time.monotonic(), json.loads(bytes(message.payload))))

        task = asyncio.create_task(collect())
        async with member_client(bob) as phone:
            topic = f"owntracks/{world.phone[world.bob]}"
            # the gateway's pipeline: bob's fix is stored, then published live to alice
            await phone.publish(topic, sim.owntracks_location(track[0]), qos=1)
            await services.wait_until(lambda: len(got) >= 1, within=10)
            assert got[0][1]["member"] == world.bob
            with services.connect() as conn:
                conn.execute(
                    "delete from circle_members where circle_id = %s and account_id = %s",
                    (world.circle_a, world.alice),
                )
            removed = time.monotonic()
            # from the change on, the gateway's own user publishes a probe every 50 ms to her
            # topic (and bob's phone keeps sending): the broker must stop delivering
            async with services.mqtt_client(services.GATEWAY_USER[0]) as gateway_user:
                for i in range(60):
                    probe = live.replace("+", "probe")  # a device topic of hers
                    await gateway_user.publish(probe, json.dumps({"probe": i}), qos=0)
                    if i % 10 == 0:
                        await phone.publish(
                            topic, sim.owntracks_location(track[1 + i // 10]), qos=1
                        )
                    await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        task.cancel()
    after = [t - removed for t, _ in got if t > removed]
    last = max(after, default=0.0)
    print(f"last delivery {last:.3f} s after the removal; {len(after)} after it")
    assert last < 1.5, f"still delivered {last:.2f} s after the removal"
    assert not [p for t, p in got if t - removed > 1.5]


async def test_a_deleted_account_loses_its_broker_client(
    world_gateway: tuple[World, gateway_app.Gateway],
) -> None:
    world, gw = world_gateway
    creds = await access(gw).provision(world.alice)
    async with member_client(creds):
        pass
    with services.connect() as conn:
        admin.delete_account(conn, world.alice)

    async def refused() -> bool:
        try:
            async with member_client(creds):
                return False
        except aiomqtt.MqttError:
            return True

    deadline = time.monotonic() + 5
    while not await refused():
        assert time.monotonic() < deadline, "the deleted member can still connect"
        await asyncio.sleep(0.1)


async def test_post_me_mqtt_answers_with_credentials_for_the_signed_in_account(
    world_gateway: tuple[World, gateway_app.Gateway],
) -> None:
    """``POST /v1/me/mqtt`` on the running gateway, signed in with a member token."""
    world, gw = world_gateway
    async with services.connect_async() as conn:
        token, _ = await accounts_store.create_token(
            conn, world.bob, "test", datetime.now(UTC) + timedelta(hours=1)
        )
    url = f"http://127.0.0.1:{gw.settings.http.port}/v1/me/mqtt"
    async with aiohttp.ClientSession() as http:
        async with http.post(url) as anonymous:
            assert anonymous.status == 401
            assert anonymous.content_type == "application/problem+json"
        auth = {"Authorization": f"Bearer {token}"}
        async with http.post(url, headers=auth) as response:
            assert response.status == 201
            body = await response.json()
        async with http.post(url, headers=auth) as response:
            again = await response.json()
    assert set(body) == {"host", "port", "username", "password", "topics"}
    assert body["topics"]["publish"][0] == f"owntracks/{world.phone[world.bob]}"
    assert again["password"] != body["password"]
    old = members.MemberCredentials(
        body["host"], body["port"], body["username"], body["password"], members.MemberTopics((), ())
    )
    with pytest.raises(aiomqtt.MqttError):  # a new password replaces the old one
        async with member_client(old):
            pass


async def test_another_user_cannot_take_over_the_gateways_session(db_url: str) -> None:
    """Mosquitto hands a session to whoever connects with its client id; the gateway's ids
    are bound to its password (gateway/broker/client_id.py), so a phone user connecting with
    the configured id gets a session of its own and the gateway stays connected."""
    s = services.settings(db_url)
    key = f"alice/{services.unique('phone')}"
    device_id = services.provision("owntracks", key)
    async with services.running_gateway(s) as gw:
        assert gw.mqtt is not None
        ids = (s.mqtt.client_id, f"{s.mqtt.client_id}-alerts", "trackgw-ingest")
        for identifier, fix in zip(ids, fixes(len(ids)), strict=True):
            async with aiomqtt.Client(
                services.MQTT_HOST,
                services.MQTT_PORT,
                username="alice",
                password=services.PHONE_USERS["alice"],
                identifier=identifier,
                clean_session=False,
            ) as intruder:
                await asyncio.sleep(0.3)
                assert gw.mqtt.connected.is_set(), f"the gateway was thrown off by {identifier!r}"
                await intruder.publish(f"owntracks/{key}", sim.owntracks_location(fix), qos=1)
        await services.wait_until(lambda: services.count_positions(device_id) == len(ids))
        assert gw.mqtt.connected.is_set()


async def test_a_member_beyond_the_plans_limit_may_read_nothing_of_the_circle(
    world_gateway: tuple[World, gateway_app.Gateway],
) -> None:
    world, gw = world_gateway
    third = services.unique("acct")
    with services.connect() as conn:  # circle A is on Free: 2 members; the third is outside
        admin.join_circle(conn, world.circle_a, third)
    creds = await access(gw).provision(third)
    assert creds.topics.subscribe == ()
    own = f"circles/{world.circle_a}/members/{third}/alerts"
    async with member_client(creds) as client:
        assert codes(await client.subscribe(own, qos=1)) == [SUBACK_FAILURE]
    # the plan grows: the third member's own topics open within the next reconcile
    await set_plan_async(world.circle_a, "gold")
    deadline = time.monotonic() + 3
    while True:
        async with member_client(creds) as client:
            if codes(await client.subscribe(own, qos=1)) == [1]:
                break
        assert time.monotonic() < deadline, "the grown plan did not open the member's topic"
        await asyncio.sleep(0.1)
