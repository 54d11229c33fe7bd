"""Per-member broker access, enforced by the broker (Mosquitto's dynamic security plugin).

Each member who asks (``POST /v1/me/mqtt``) gets a broker client of their own, username
``member-<account>``, with a role of the same name that allows exactly:

* publishing their own phones' topics: ``owntracks/<user>/<device>`` (and its sub-topics,
  OwnTracks' events) for each active OwnTracks device of theirs, ``trackgw/phones/<user>/
  <device>`` for each msgpack phone (the device's id is ``<user>/<device>``);
* subscribing to, and receiving, ``circles/<circle>/members/<account>/alerts`` and
  ``.../live/+`` (one retained topic per device) for each circle they belong to and are
  within the plan's member limit in.

Everything else is denied by the broker's default access (deny publish, receive, subscribe).
Receiving is checked on every delivery, so when an ACL goes (the member leaves, is removed, the
plan shrinks, the account is deleted) an existing subscription stops at once.

Keeping the broker in step: ``BrokerAccess.run`` wakes after every entitlement snapshot
reload (``EntitlementService.wait_newer``; reloads follow the ``trackgw_entitlements`` NOTIFY
on any change to circles, members, subscriptions, devices or accounts) and reconciles every
member's role with the database (adding and removing only the differing ACLs) and deletes
the clients of deleted accounts. It also reconciles on (re)connecting and every ``refresh_s``.

``POST /v1/me/mqtt`` (gateway/api/mqtt.py) calls ``provision``: each call gives the member a
new client with a new random password (the old one stops working, its connections are
closed).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiomqtt
import psycopg
from aiohttp import web

from entitlements import Snapshot
from entitlements.errors import UnknownEntity

from .. import metrics
from ..config import MqttSettings
from ..entitlement_service import EntitlementService
from ..store import credentials
from .client_id import bound_client_id
from .dynsec import Command, Dynsec, DynsecError

log = logging.getLogger(__name__)

MEMBER_PREFIX = "member-"
#: characters that may not appear in one topic level built from an id
_FORBIDDEN = frozenset("+#/\x00")


def member_username(account: str) -> str:
    """The member's broker username, which is also their role's name."""
    return MEMBER_PREFIX + account


def _level_ok(text: str) -> bool:
    return (
        bool(text)
        and not text.startswith("$")
        and not (_FORBIDDEN & set(text))
        and all(ord(c) >= 0x20 for c in text)
    )


def device_topics(protocol: str, unique_id: str) -> tuple[str, ...]:
    """The topics a phone with this id publishes (empty if the id cannot be a topic)."""
    parts = unique_id.split("/")
    if len(parts) != 2 or not all(_level_ok(p) for p in parts):
        return ()
    if protocol == "owntracks":
        return (f"owntracks/{unique_id}", f"owntracks/{unique_id}/#")
    if protocol == "msgpack_phone":
        return (f"trackgw/phones/{unique_id}",)
    return ()


def circle_topics(circle: str, account: str) -> tuple[str, ...]:
    if not (_level_ok(circle) and _level_ok(account)):
        return ()
    base = f"circles/{circle}/members/{account}"
    return (f"{base}/alerts", f"{base}/live/+")


@dataclass(frozen=True, slots=True)
class MemberTopics:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]

    def acls(self) -> frozenset[tuple[str, str]]:
        """(acltype, topic) pairs, all allowing."""
        out = {("publishClientSend", t) for t in self.publish}
        for t in self.subscribe:
            out.add(("subscribeLiteral", t))
            out.add(("publishClientReceive", t))
        return frozenset(out)

    def to_json(self) -> dict[str, list[str]]:
        return {"publish": list(self.publish), "subscribe": list(self.subscribe)}


def member_topics(
    account: str,
    devices: Iterable[tuple[str, str]],
    circles: Iterable[str],
    snapshot: Snapshot,
    now: datetime,
) -> MemberTopics:
    """What ``account`` may use: its devices (protocol, unique id) and its in-plan circles."""
    devices = list(devices)
    publish = [t for protocol, uid in devices for t in device_topics(protocol, uid)]
    # an OwnTracks phone reads the commands the gateway sends it (reportLocation)
    subscribe: list[str] = [
        f"owntracks/{uid}/cmd"
        for protocol, uid in devices
        if protocol == "owntracks" and device_topics(protocol, uid)
    ]
    for circle in sorted(set(circles)):
        try:
            in_plan = account in snapshot.alert_recipients(circle, now)
        except UnknownEntity:
            in_plan = False  # created after the snapshot: its NOTIFY brings another reconcile
        if in_plan:
            subscribe.extend(circle_topics(circle, account))
    return MemberTopics(tuple(publish), tuple(subscribe))


def desired_topics(
    rows: credentials.MemberAccessRows, snapshot: Snapshot, now: datetime
) -> tuple[dict[str, MemberTopics], list[str]]:
    """(role name -> topics for every member with a client, accounts that are deleted). A
    suspended account keeps its client with no access."""
    devices: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for account, protocol, uid in rows.devices:
        devices[account].append((protocol, uid))
    circles: dict[str, list[str]] = defaultdict(list)
    for account, circle in rows.memberships:
        circles[account].append(circle)
    desired: dict[str, MemberTopics] = {}
    deleted: list[str] = []
    for account, username, status in rows.clients:
        if status == "deleted":
            deleted.append(account)
        elif status != "active":
            desired[username] = MemberTopics((), ())
        else:
            desired[username] = member_topics(
                account, devices[account], circles[account], snapshot, now
            )
    return desired, deleted


def _acl(command: str, role: str, acltype: str, topic: str) -> Command:
    base = {"command": command, "rolename": role, "acltype": acltype, "topic": topic}
    return {**base, "priority": 0, "allow": True} if command == "addRoleACL" else base


class BrokerUnavailable(Exception):
    """The gateway has no admin connection to the broker's dynamic security plugin."""


@dataclass(frozen=True, slots=True)
class MemberCredentials:
    host: str
    port: int
    username: str
    password: str
    topics: MemberTopics

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "username": self.username,
            "password": self.password,
            "topics": self.topics.to_json(),
        }


class BrokerAccess:
    """The gateway's admin connection to the plugin; keeps members' roles in step."""

    def __init__(
        self,
        settings: MqttSettings,
        db_url: str,
        entitlements: EntitlementService,
        refresh_s: float = 300.0,
    ) -> None:
        self.settings = settings
        self.db_url = db_url
        self.entitlements = entitlements
        self.refresh_s = refresh_s
        self.connected = asyncio.Event()
        #: reconciles finished (tests and metrics read it)
        self.reconciles = 0
        self._ds: Dynsec | None = None
        self._lock = asyncio.Lock()
        #: role name -> the ACLs the broker holds for it (read back on connect)
        self._applied: dict[str, frozenset[tuple[str, str]]] = {}

    async def run(self) -> None:
        s = self.settings
        while True:
            try:
                async with Dynsec.connect(
                    s.host,
                    s.port,
                    s.admin_username,
                    s.admin_password,
                    bound_client_id(s, "admin"),
                ) as ds:
                    self._ds = ds
                    await self._read_back(ds)
                    self.connected.set()
                    metrics.mqtt_connected.labels("broker_access").set(1)
                    log.info("broker access: connected to the dynamic security plugin")
                    seen = self.entitlements.version
                    while True:
                        await self.reconcile()
                        newer = await self.entitlements.wait_newer(seen, self.refresh_s)
                        if newer == seen:  # a quiet ``refresh_s``: re-read what the broker holds
                            await self._read_back(ds)
                        seen = newer
            except (aiomqtt.MqttError, DynsecError, psycopg.OperationalError) as exc:
                log.warning("broker access: %s; retrying", exc)
            finally:
                self._ds = None
                self.connected.clear()
                metrics.mqtt_connected.labels("broker_access").set(0)
            await asyncio.sleep(1.0)

    async def _read_back(self, ds: Dynsec) -> None:
        data = await ds.one({"command": "listRoles", "verbose": True, "count": -1, "offset": 0})
        applied = {}
        for role in data.get("roles", []):
            name = role.get("rolename", "")
            if name.startswith(MEMBER_PREFIX):
                applied[name] = frozenset(
                    (a["acltype"], a["topic"]) for a in role.get("acls", []) if a.get("allow")
                )
        self._applied = applied

    def _admin(self) -> Dynsec:
        if self._ds is None:
            raise BrokerUnavailable("no connection to the broker's dynamic security plugin")
        return self._ds

    async def reconcile(self) -> None:
        """Make every member role on the broker what the database and the current snapshot
        say; delete the clients and roles of deleted accounts and of unknown members."""
        async with self._lock:
            ds = self._admin()
            async with await psycopg.AsyncConnection.connect(
                self.db_url, autocommit=True, connect_timeout=5
            ) as conn:
                rows = await credentials.member_access_rows(conn)
                desired, deleted = desired_topics(
                    rows, self.entitlements.snapshot, datetime.now(UTC)
                )
                commands = self._diff({name: t.acls() for name, t in desired.items()})
                if commands:
                    await ds.check(commands, ignore=("not found", "already exists"))
                for account in deleted:
                    await credentials.forget_member_client(conn, account)
            self.reconciles += 1
            if commands:
                log.info("broker access: %d changes to member roles", len(commands))

    def _diff(self, desired: Mapping[str, frozenset[tuple[str, str]]]) -> list[Command]:
        commands: list[Command] = []
        for name, acls in desired.items():
            have = self._applied.get(name)
            if have is None:
                commands.append(
                    {
                        "command": "createRole",
                        "rolename": name,
                        "acls": [
                            {"acltype": a, "topic": t, "priority": 0, "allow": True}
                            for a, t in sorted(acls)
                        ],
                    }
                )
                continue
            commands.extend(_acl("removeRoleACL", name, a, t) for a, t in sorted(have - acls))
            commands.extend(_acl("addRoleACL", name, a, t) for a, t in sorted(acls - have))
        for name in sorted(set(self._applied) - set(desired)):
            commands.append({"command": "deleteClient", "username": name})
            commands.append({"command": "deleteRole", "rolename": name})
        self._applied = {**{n: a for n, a in self._applied.items() if n in desired}, **desired}
        return commands

    async def provision(self, account: str) -> MemberCredentials:
        """Create (or re-key) the member's broker client; its role is reconciled first."""
        if self._ds is None:
            try:
                await asyncio.wait_for(self.connected.wait(), 5.0)
            except TimeoutError:
                msg = "the broker's dynamic security plugin is not reachable"
                raise BrokerUnavailable(msg) from None
        if not _level_ok(account):
            raise ValueError(f"account id {account!r} cannot name broker topics")
        username = member_username(account)
        async with await psycopg.AsyncConnection.connect(
            self.db_url, autocommit=True, connect_timeout=5
        ) as conn:
            status = await credentials.add_member_client(conn, account, username)
            if status is None:
                raise LookupError(f"no account {account!r}")
            if status != "active":
                raise PermissionError(f"account {account!r} is {status}")
            await self.entitlements.reload_soon()  # a circle joined a moment ago counts
            await self.reconcile()
            rows = await credentials.member_access_rows(conn, account)
        topics = desired_topics(rows, self.entitlements.snapshot, datetime.now(UTC))[0][username]
        password = credentials.new_secret()
        # A new client each time: deleting the old one also disconnects whoever is still
        # connected with the old password.
        await self._admin().check(
            [
                {"command": "deleteClient", "username": username},
                {
                    "command": "createClient",
                    "username": username,
                    "password": password,
                    "textname": f"circle member {account}",
                    "roles": [{"rolename": username, "priority": 0}],
                },
            ],
            ignore=("Client not found",),
        )
        s = self.settings
        return MemberCredentials(
            s.public_host or s.host, s.public_port or s.port, username, password, topics
        )


#: where the app keeps the process's ``BrokerAccess`` (POST /v1/me/mqtt uses it)
BROKER_ACCESS: web.AppKey[BrokerAccess] = web.AppKey("broker_access")
