"""The running gateway: builds every part from ``Settings`` and runs until told to stop.

Shutdown (SIGTERM/SIGINT) drains: listeners stop reading, the writer commits what is queued
and releases its held replies and PUBACKs, then connections close.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import secrets
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from entitlements import Snapshot
from protocols import registry

from .alerts import AlertPublisher
from .api import access, billing, health, members, openapi, problems
from .api import accounts as accounts_api
from .api import admin as admin_api
from .api import circles as circles_api
from .api import live as live_api
from .config import Settings
from .entitlement_service import EntitlementService
from .geofencing import GeofenceProcessor
from .keys import ENTITLEMENTS, LIVE, MQTT_INGEST, POOL, SETTINGS, WRITER
from .listeners.http import add_phone_routes, osmand_app
from .listeners.mqtt import MqttIngest
from .listeners.tcp import TcpListener
from .listeners.udp import UdpListener
from .live.hub import LiveHub
from .live.streams import LiveStreams, Tickets
from .pipeline.batcher import BatchProcessor, Writer
from .pipeline.filters import Filters
from .pipeline.identify import DeviceDirectory
from .pipeline.intake import Intake
from .pipeline.route import Router
from .web import routes as web_routes

log = logging.getLogger(__name__)

#: protocol name -> the [ports] key of its TCP listener
TCP_PORTS = ("gt06", "teltonika", "h02", "tk103", "watch")


@dataclass
class Gateway:
    settings: Settings
    pool: AsyncConnectionPool
    intake: Intake
    writer: Writer
    router: Router
    directory: DeviceDirectory
    entitlements: EntitlementService
    app: web.Application
    mqtt: MqttIngest | None = None
    tcp: list[TcpListener] = field(default_factory=list)
    udp: list[UdpListener] = field(default_factory=list)
    runners: list[web.AppRunner] = field(default_factory=list)
    http_port: int = 0
    osmand_port: int = 0
    #: extra long-running coroutines (entitlement refresh, place refresh ...)
    background: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)


async def _connect_writer(url: str) -> psycopg.AsyncConnection[Any]:
    return await psycopg.AsyncConnection.connect(url, connect_timeout=5)


async def build(settings: Settings, processors: list[BatchProcessor] | None = None) -> Gateway:
    pool = AsyncConnectionPool(
        settings.database.url,
        min_size=settings.database.pool_min,
        max_size=settings.database.pool_max,
        open=False,
        kwargs={"connect_timeout": 5},
    )
    await pool.open(wait=True, timeout=30)
    directory = DeviceDirectory(pool, settings.devices)
    await directory.load_all()
    filters = Filters(settings.filters)
    async with pool.connection() as conn:
        rows = await (
            await conn.execute("select device_id, fix_time, lat, lon from latest_positions")
        ).fetchall()
    for device_id, fix_time, lat, lon in rows:
        filters.remember(device_id, fix_time, lat, lon)
    intake = Intake(settings.pipeline.queue_max)
    url = settings.database.url
    writer = Writer(
        intake, lambda: _connect_writer(url), filters, settings.pipeline, processors or []
    )
    entitlements = EntitlementService(settings.database.url)
    alerts = AlertPublisher(settings.mqtt)
    w = settings.web
    hub = LiveHub(
        interval_s=w.live_interval_s, ring_size=w.live_ring_size, reader_queue=w.live_reader_queue
    )
    geofencing = GeofenceProcessor(settings.database.url, entitlements, alerts, live=hub)
    await geofencing.load()
    entitlements.on_reload.append(geofencing.on_snapshot)

    async def revoke_readers(snapshot: Snapshot) -> None:
        now = datetime.now(UTC)
        hub.revoke(lambda circle: snapshot.alert_recipients(circle, now))

    entitlements.on_reload.append(revoke_readers)
    await entitlements.reload()
    writer.processors.insert(0, geofencing)
    router = Router(directory, intake, gate=entitlements.gate)
    app = web.Application(client_max_size=settings.limits.max_http_body_bytes)
    app[SETTINGS] = settings
    app[POOL] = pool
    app[WRITER] = writer
    app[ENTITLEMENTS] = entitlements
    health.add_routes(app)
    billing.add_routes(app)
    circles_api.add_routes(app)
    app.middlewares.append(problems.problem_middleware)
    access.setup(app)
    accounts_api.add_routes(app)
    members.add_routes(app)
    admin_api.add_routes(app)
    openapi.add_routes(app)
    app[LIVE] = hub
    secret = settings.web.ticket_secret.encode() or secrets.token_bytes(32)
    LiveStreams(
        hub, live_api.authorise, Tickets(secret), send_buffer_bytes=w.live_send_buffer_bytes
    ).add_routes(app)
    web_routes.add_routes(app, settings.web)
    add_phone_routes(app, router)
    gw = Gateway(settings, pool, intake, writer, router, directory, entitlements, app)
    gw.background.append(entitlements.run)
    gw.background.append(alerts.run)
    return gw


async def start_listeners(gw: Gateway) -> None:
    s = gw.settings
    host = s.ports.host
    for name in TCP_PORTS:
        port = getattr(s.ports, name)
        if port:
            spec = registry.get(name)
            listener = TcpListener(
                name,
                functools.partial(spec.new_session, "tcp", None),
                host,
                port,
                gw.router,
                s.limits,
                s.ports.reuse_port,
            )
            await listener.start()
            gw.tcp.append(listener)
    if s.ports.auto:
        from protocols.detect import new_auto_session

        listener = TcpListener(
            "auto",
            lambda: new_auto_session(None),
            host,
            s.ports.auto,
            gw.router,
            s.limits,
            s.ports.reuse_port,
        )
        await listener.start()
        gw.tcp.append(listener)
    if s.ports.teltonika_udp:
        spec = registry.get("teltonika")
        udp = UdpListener(
            "teltonika",
            lambda: spec.new_session("udp", None),
            host,
            s.ports.teltonika_udp,
            gw.router,
        )
        await udp.start()
        gw.udp.append(udp)
    runner = web.AppRunner(gw.app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, s.http.host, s.http.port, reuse_port=s.ports.reuse_port or None)
    await site.start()
    gw.runners.append(runner)
    gw.http_port = s.http.port
    log.info("HTTP API on %s:%d", s.http.host, s.http.port)
    if s.ports.osmand:
        runner = web.AppRunner(osmand_app(gw.router, s.limits.max_http_body_bytes), access_log=None)
        await runner.setup()
        await web.TCPSite(
            runner, host, s.ports.osmand, reuse_port=s.ports.reuse_port or None
        ).start()
        gw.runners.append(runner)
        gw.osmand_port = s.ports.osmand
        log.info("listening for osmand on http %s:%d", host, s.ports.osmand)


async def serve(
    settings: Settings,
    stop: asyncio.Event | None = None,
    processors: list[BatchProcessor] | None = None,
    on_ready: Callable[[Gateway], Awaitable[None]] | None = None,
) -> None:
    """Run until ``stop`` is set or SIGTERM/SIGINT arrives; then drain and close."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    gw = await build(settings, processors)
    gw.mqtt = MqttIngest(settings.mqtt, gw.router)
    gw.app[MQTT_INGEST] = gw.mqtt
    await start_listeners(gw)
    tune_interpreter()
    writer_task = asyncio.create_task(gw.writer.run(), name="writer")
    mqtt_task = asyncio.create_task(gw.mqtt.run(), name="mqtt-ingest")
    extra = [asyncio.create_task(c(), name="background") for c in gw.background]
    log.info("trackgw serving", extra={"count": len(gw.directory)})
    if on_ready is not None:
        await on_ready(gw)
    stop_task = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait(
        {stop_task, writer_task, mqtt_task}, return_when=asyncio.FIRST_COMPLETED
    )
    for task in (writer_task, mqtt_task):
        if task in done and task.exception() is not None:
            log.error("a pipeline task failed", exc_info=task.exception())
    log.info("stopping: draining what is in flight")
    await shutdown(gw, writer_task, mqtt_task, extra)
    stop_task.cancel()


#: the interpreter's thread switch interval while serving (Python's default is 5 ms)
SWITCH_INTERVAL_S = 0.001


def tune_interpreter() -> None:
    """Process-wide settings for serving, applied once start-up is done.

    * ``gc.freeze()``: everything built at start-up (airport index, places, plans, caches,
      modules) lives as long as the process; frozen, the cyclic collector stops walking it on
      every full collection while ingestion allocates fast (measured: ~60 ms pauses and ~25%
      less TCP throughput without it). Later garbage is collected as usual.
    * a 1 ms switch interval: the writer's database thread (``pipeline.batcher``) waits for
      the GIL at most this long after each round trip; 5 ms cost ~15% of TCP throughput here.
    """
    gc.freeze()
    if sys.getswitchinterval() > SWITCH_INTERVAL_S:
        sys.setswitchinterval(SWITCH_INTERVAL_S)


async def shutdown(
    gw: Gateway,
    writer_task: asyncio.Task[None],
    mqtt_task: asyncio.Task[None],
    extra: list[asyncio.Task[None]],
) -> None:
    for task in extra:
        task.cancel()
    for listener in gw.tcp:
        listener.stop_accepting()
    for udp in gw.udp:
        udp.stop_accepting()
    if gw.mqtt is not None:
        gw.mqtt.stop_reading()
    gw.intake.close()
    try:
        await asyncio.wait_for(writer_task, 30)
    except (TimeoutError, Exception):
        log.exception("the writer did not drain in time")
    if gw.mqtt is not None:
        await gw.mqtt.close()
        mqtt_task.cancel()
    for listener in gw.tcp:
        await listener.close()
    for udp in gw.udp:
        await udp.close()
    for runner in gw.runners:
        await runner.cleanup()
    await gw.pool.close()
    log.info("stopped")
