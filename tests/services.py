"""The real local services the integration tests use (started by deploy/local/up).

Nothing here mocks TimescaleDB or Mosquitto. When a service is missing the tests fail (never
skip) with a message saying how to start it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from gateway import app, config
from gateway.broker.client_id import bound_client_id
from gateway.store import admin, credentials

ROOT = Path(__file__).resolve().parents[1]
PG_PORT = int(os.environ.get("TRACKGW_PG_PORT", "55432"))
MQTT_HOST = "127.0.0.1"
MQTT_PORT = int(os.environ.get("TRACKGW_MQTT_PORT", "51883"))
ADMIN_URL = f"postgresql://trackgw@127.0.0.1:{PG_PORT}/postgres"
#: the session's database: created fresh for each test run, separate from the demo's
TEST_DB = os.environ.get("TRACKGW_TEST_DB", "trackgw_test")
TEST_URL = f"postgresql://trackgw@127.0.0.1:{PG_PORT}/{TEST_DB}"

#: users of the project's broker (deploy/mosquitto/users); members get their own clients
#: from the gateway (gateway/broker/members.py), there is no shared member user
GATEWAY_USER = ("trackgw-gateway", "gateway-dev-secret")
ADMIN_USER = ("trackgw-admin", "admin-dev-secret")
#: reads the circle-wide topics circles/# (operators' dashboards); no member can
OPERATOR_USER = ("trackgw-operator", "operator-dev-secret")
PHONE_USERS = {"alice": "alice-secret", "bob": "bob-secret", "demo-phone": "demo-phone-secret"}


#: ports already handed out in this process: each test gateway gets ports of its own
_handed_out: set[int] = set()


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A free loopback port below Linux's ephemeral range (32768+), so that the client side
    of some other connection cannot take it between this check and the gateway's bind, and
    never one this process has handed out before (two picks of one ``settings()`` call, or a
    port a previous test gateway may still hold)."""
    for _ in range(1000):
        port = random.randrange(20_000, 32_000)
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port found")


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def unique_imei() -> str:
    return "86" + str(uuid.uuid4().int)[:13]


def settings(db_url: str = TEST_URL, **sections: dict[str, Any]) -> config.Settings:
    """Settings for a gateway under test: free ports, a unique MQTT client id."""
    base = config.load(env={})
    ports = replace(
        base.ports,
        auto=free_port(),
        gt06=free_port(),
        teltonika=free_port(),
        teltonika_udp=free_port(socket.SOCK_DGRAM),
        h02=free_port(),
        tk103=free_port(),
        watch=free_port(),
        osmand=free_port(),
    )
    s = replace(
        base,
        database=replace(base.database, url=db_url),
        mqtt=replace(base.mqtt, port=MQTT_PORT, client_id=unique("gw")),
        http=replace(base.http, port=free_port()),
        ports=ports,
        log_format="text",
    )
    for name, values in sections.items():
        s = replace(s, **{name: replace(getattr(s, name), **values)})
    return s


def clear_mqtt_session(client_id: str) -> None:
    """Discard a test gateway's persistent session so the broker stops queueing for it."""
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=bound_client_id(replace(config.MqttSettings(), client_id=client_id)),
        clean_session=True,
    )
    client.username_pw_set(*GATEWAY_USER)
    with contextlib.suppress(OSError):
        client.connect(MQTT_HOST, MQTT_PORT)
        client.loop(0.2)
        client.disconnect()


@contextlib.contextmanager
def connect(url: str = TEST_URL) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(url, autocommit=True) as conn:
        yield conn


@contextlib.asynccontextmanager
async def connect_async(url: str = TEST_URL) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        yield conn


def provision(protocol: str, unique_id: str, account: str | None = None) -> int:
    with connect() as conn:
        return admin.add_device(conn, protocol, unique_id, account or unique("acct")).id


def provision_phone(protocol: str, unique_id: str, account: str | None = None) -> tuple[int, str]:
    """A phone that authenticates on HTTP: (device id, its secret)."""
    with connect() as conn:
        device = admin.add_device(conn, protocol, unique_id, account or unique("acct"))
        return device.id, credentials.set_device_secret(conn, unique_id)


def count_positions(device_id: int) -> int:
    with connect() as conn:
        row = conn.execute(
            "select count(*) from positions where device_id = %s", (device_id,)
        ).fetchone()
    assert row is not None
    return int(row[0])


@contextlib.asynccontextmanager
async def running_gateway(s: config.Settings) -> AsyncIterator[app.Gateway]:
    """The real gateway in this event loop, on its own free ports; stopped (drained) after."""
    stop = asyncio.Event()
    ready: asyncio.Future[app.Gateway] = asyncio.get_running_loop().create_future()

    async def on_ready(gw: app.Gateway) -> None:
        ready.set_result(gw)

    task = asyncio.create_task(app.serve(s, stop=stop, on_ready=on_ready))
    try:
        waiting: set[asyncio.Future[Any]] = {task, ready}
        done, _ = await asyncio.wait(waiting, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()  # raises what went wrong
        gw = ready.result()
        if gw.mqtt is not None:
            await asyncio.wait_for(gw.mqtt.connected.wait(), 10)
        yield gw
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
        clear_mqtt_session(s.mqtt.client_id)


def mqtt_client(user: str, password: str | None = None) -> aiomqtt.Client:
    """A client of the project's broker as ``user`` (a phone user's password by default)."""
    known = {**PHONE_USERS, **dict([GATEWAY_USER, OPERATOR_USER, ADMIN_USER])}
    return aiomqtt.Client(
        MQTT_HOST,
        MQTT_PORT,
        username=user,
        password=known[user] if password is None else password,
        identifier=unique(user),
    )


async def wait_until(predicate: Callable[[], bool], within: float = 15.0) -> None:
    """Poll ``predicate`` (run in a thread: it may query the database) until it holds."""
    deadline = time.monotonic() + within
    while not await asyncio.to_thread(predicate):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached within {within} s")
        await asyncio.sleep(0.05)


def settings_env(s: config.Settings) -> dict[str, str]:
    """The ``TRACKGW_*`` variables that make a ``trackgw serve`` process use ``s``."""
    env: dict[str, str] = {}
    for section in dataclasses.fields(s):
        value = getattr(s, section.name)
        if dataclasses.is_dataclass(value):
            for f in dataclasses.fields(value):
                env[f"TRACKGW_{section.name}_{f.name}".upper()] = str(getattr(value, f.name))
        else:
            env[f"TRACKGW_{section.name}".upper()] = str(value)
    return env


class GatewayProcess:
    """``trackgw serve`` in a subprocess (loopback ports only); ended by its pid."""

    def __init__(self, s: config.Settings, log_path: str) -> None:
        self.settings = s
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, ready_within: float = 30.0) -> None:
        env = {**os.environ, **settings_env(self.settings)}
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve"],
            env=env,
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + ready_within
        url = f"http://127.0.0.1:{self.settings.http.port}/readyz"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"gateway exited with {self.proc.returncode}; see {self.log_path}"
                )
            try:
                with urllib.request.urlopen(url, timeout=1) as resp:
                    if resp.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"gateway not ready in {ready_within}s; see {self.log_path}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rss_kib(self) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no draining, no goodbye."""
        if self.alive():
            assert self.proc is not None
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int:
        """SIGTERM and wait for the drain; the exit code."""
        assert self.proc is not None
        if self.alive():
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()
        return int(self.proc.returncode)


def local_services(action: str, *args: str) -> None:
    """deploy/local/<action> (up, down, status) of the project's own services."""
    subprocess.run(
        [str(ROOT / "deploy" / "local" / action), *args], check=True, stdout=subprocess.DEVNULL
    )
