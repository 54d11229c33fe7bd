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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from protocols import registry

from .alerts import AlertPublisher
from .api import access, billing, health, members, openapi, problems
from .api import accounts as accounts_api
from .api import admin as admin_api
from .api import circles as circles_api
from .api import commands as commands_api
from .api import live as live_api
from .api import mqtt as mqtt_api
from .api import notifications as notifications_api
from .broker import members as broker_members
from .config import Settings
from .device_commands import CommandDispatcher
from .entitlement_service import EntitlementService
from .keys import ENTITLEMENTS, LIVE, MQTT_INGEST, POOL, SETTINGS, SUPERVISOR, WRITER
from .listeners.connections import Connections
from .listeners.http import add_phone_routes, osmand_app
from .listeners.http import runner as http_runner
from .listeners.mqtt import MqttIngest
from .listeners.tcp import ConnectionCap, TcpListener
from .listeners.udp import UdpListener
from .live.hub import LiveHub
from .live.revoke import run_revocations
from .live.streams import LiveStreams, Tickets
from .notify.jobs import Jobs as NotifyJobs
from .notify.worker import DeliveryWorker
from .pipeline.batcher import Writer
from .pipeline.commit import Committer
from .pipeline.deliver import Delivery
from .pipeline.filters import Filters
from .pipeline.geofence import GeofenceStage
from .pipeline.identify import DeviceDirectory
from .pipeline.intake import Intake
from .pipeline.notify import Addressing
from .pipeline.route import Router
from .store import geofence_state
from .store import writer as store_writer
from .supervisor import Supervisor, TaskFailed
from .web import routes as web_routes

log = logging.getLogger(__name__)

#: the [ports] keys of the protocols' own TCP listeners (ProtocolSpec.port_keys)
TCP_PORTS = tuple(key for key, _ in registry.listening("tcp"))


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
    alerts: AlertPublisher
    supervisor: Supervisor
    mqtt: MqttIngest | None = None
    broker_access: broker_members.BrokerAccess | None = None
    live: LiveHub | None = None
    tcp: list[TcpListener] = field(default_factory=list)
    udp: list[UdpListener] = field(default_factory=list)
    runners: list[web.AppRunner] = field(default_factory=list)
    http_port: int = 0
    osmand_port: int = 0
    sites: list[tuple[str, web.TCPSite]] = field(default_factory=list)
    connections: Connections = field(default_factory=Connections)
    commands: CommandDispatcher | None = None
    notify_worker: DeliveryWorker | None = None
    notify_jobs: NotifyJobs | None = None


async def _connect_writer(url: str, statement_timeout_ms: int) -> psycopg.AsyncConnection[Any]:
    return await psycopg.AsyncConnection.connect(
        url, **store_writer.connection_kwargs(statement_timeout_ms)
    )


async def build(settings: Settings) -> Gateway:
    """Every stage, built in the order data flows, each handed what it needs (no wiring
    after construction)."""
    pool = AsyncConnectionPool(
        settings.database.url,
        min_size=settings.database.pool_min,
        max_size=settings.database.pool_max,
        open=False,
        kwargs={"connect_timeout": 5},
    )
    await pool.open(wait=True, timeout=30)
    directory = DeviceDirectory(pool, settings.devices, settings.database.url)
    await directory.load_all()
    intake = Intake(settings.pipeline.queue_max, settings.pipeline.queue_max_bytes)
    filters = Filters(settings.filters)
    async with pool.connection() as conn:
        for device_id, fix_time, lat, lon in await geofence_state.latest_fixes(conn):
            filters.remember(device_id, fix_time, lat, lon)
    geofence = GeofenceStage(settings.database.url)
    await geofence.load()
    entitlements = EntitlementService(settings.database.url, on_reload=(geofence.on_snapshot,))
    broker_access = broker_members.BrokerAccess(settings.mqtt, settings.database.url, entitlements)
    await entitlements.reload()
    alerts = AlertPublisher(settings.mqtt)
    page = settings.web
    live = LiveHub(
        interval_s=page.live_interval_s,
        ring_size=page.live_ring_size,
        reader_queue=page.live_reader_queue,
        taps=(alerts.live_event,),
    )
    notify_worker = DeliveryWorker(
        settings.database.url, settings.notify, settings.smtp, alerts, live
    )
    async with pool.connection() as conn:
        battery_low = {
            r[0]
            for r in await (
                await conn.execute("select device_id from device_watch where battery_low")
            ).fetchall()
        }
    notify_jobs = NotifyJobs(
        settings.database.url, settings.notify, entitlements.current, directory, notify_worker.kick
    )
    url, timeout_ms = settings.database.url, settings.database.statement_timeout_ms
    committer = Committer(lambda: _connect_writer(url, timeout_ms), settings.pipeline)
    writer = Writer(
        intake,
        filters,
        geofence,
        committer,
        Delivery(intake, alerts, directory, live, outbox_kick=notify_worker.kick),
        settings.pipeline,
        entitlements.current,
        addressing=Addressing(settings.notify, directory, battery_low),
        confirm_every_s=settings.notify.confirm_every_s,
        confirm_settle_s=settings.notify.confirm_settle_s,
    )
    connections = Connections()
    dispatcher = CommandDispatcher(
        pool, settings.database.url, settings.commands, settings.mqtt, connections, directory
    )
    router = Router(directory, intake, gate=entitlements.gate, answers=dispatcher.offer)
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
    notifications_api.add_routes(app)
    admin_api.add_routes(app)
    openapi.add_routes(app)
    app[LIVE] = live
    secret = settings.web.ticket_secret.encode() or secrets.token_bytes(32)
    LiveStreams(
        live, live_api.authorise, Tickets(secret), send_buffer_bytes=page.live_send_buffer_bytes
    ).add_routes(app)
    web_routes.add_routes(app, settings.web)
    add_phone_routes(app, router, settings.limits.http_body_timeout_s)
    app[broker_members.BROKER_ACCESS] = broker_access
    mqtt_api.add_routes(app)
    commands_api.add_routes(app)
    supervisor = Supervisor(settings.supervision)
    app[SUPERVISOR] = supervisor
    mqtt = MqttIngest(settings.mqtt, router, settings.limits)
    app[MQTT_INGEST] = mqtt
    return Gateway(
        settings,
        pool,
        intake,
        writer,
        router,
        directory,
        entitlements,
        app,
        alerts,
        supervisor,
        mqtt,
        broker_access,
        live=live,
        connections=connections,
        commands=dispatcher,
        notify_worker=notify_worker,
        notify_jobs=notify_jobs,
    )


async def start_listeners(gw: Gateway) -> None:
    s = gw.settings
    host = s.ports.host
    cap = ConnectionCap(s.limits.max_connections)  # one for every TCP listener
    for key, spec in registry.listening("tcp"):
        port = getattr(s.ports, key)
        if port:
            listener = TcpListener(
                spec.name,
                functools.partial(spec.new_session, "tcp", None),
                host,
                port,
                gw.router,
                s.limits,
                s.ports.reuse_port,
                cap=cap,
                connections=gw.connections,
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
            cap=cap,
            connections=gw.connections,
        )
        await listener.start()
        gw.tcp.append(listener)
    for key, spec in registry.listening("udp"):
        port = getattr(s.ports, key)
        if not port:
            continue
        udp = UdpListener(
            spec.name,
            functools.partial(spec.new_session, "udp", None),
            host,
            port,
            gw.router,
            connections=gw.connections,
        )
        await udp.start()
        gw.udp.append(udp)
    runner = http_runner(gw.app, s.limits)
    await runner.setup()
    site = web.TCPSite(runner, s.http.host, s.http.port, reuse_port=s.ports.reuse_port or None)
    await site.start()
    gw.runners.append(runner)
    gw.sites.append(("http-api", site))
    gw.http_port = s.http.port
    log.info("HTTP API on %s:%d", s.http.host, s.http.port)
    if s.ports.osmand:
        osmand = osmand_app(
            gw.router, s.limits.max_http_body_bytes, gw.pool, s.limits.http_body_timeout_s
        )
        runner = http_runner(osmand, s.limits)
        await runner.setup()
        osmand_site = web.TCPSite(
            runner, host, s.ports.osmand, reuse_port=s.ports.reuse_port or None
        )
        await osmand_site.start()
        gw.runners.append(runner)
        gw.sites.append(("http-osmand", osmand_site))
        gw.osmand_port = s.ports.osmand
        log.info("listening for osmand on http %s:%d", host, s.ports.osmand)


async def _site_serving(site: web.TCPSite) -> None:
    """Runs while the site's server serves (aiohttp keeps its ``asyncio.Server`` private)."""
    server = getattr(site, "_server", None)
    if server is None:
        raise RuntimeError(f"HTTP site {site.name} has no server")
    await server.serve_forever()


def supervise(gw: Gateway) -> None:
    """Start every long-running task under the one supervisor."""
    sup = gw.supervisor
    sup.start("writer", gw.writer.run())
    if gw.mqtt is not None:
        sup.start("mqtt-ingest", gw.mqtt.run())
    sup.start("alerts", gw.alerts.run())
    sup.start("entitlements", gw.entitlements.run())
    sup.start("directory", gw.directory.run())
    if gw.broker_access is not None:
        sup.start("broker-access", gw.broker_access.run())
    if gw.live is not None:
        sup.start("live-revocations", run_revocations(gw.live, gw.entitlements))
    if gw.commands is not None:
        sup.start("commands", gw.commands.run())
    for listener in gw.tcp:
        sup.start(f"tcp-{listener.name}", listener.serving())
    for udp in gw.udp:
        sup.start(f"udp-{udp.name}", udp.serving())
    for name, site in gw.sites:
        sup.start(name, _site_serving(site))
    if gw.notify_worker is not None:
        sup.start("notify-delivery", gw.notify_worker.run())
    if gw.notify_jobs is not None:
        sup.start("notify-jobs", gw.notify_jobs.run())


async def serve(
    settings: Settings,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[Gateway], Awaitable[None]] | None = None,
) -> None:
    """Run until ``stop`` is set or SIGTERM/SIGINT arrives; then drain and close.

    Raises ``TaskFailed`` (after draining) when a supervised task ended on its own.
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    gw = await build(settings)
    await start_listeners(gw)
    tune_interpreter()
    supervise(gw)
    log.info("trackgw serving", extra={"count": len(gw.directory)})
    if on_ready is not None:
        await on_ready(gw)
    stop_task = asyncio.create_task(stop.wait())
    failed_task = asyncio.create_task(gw.supervisor.failed.wait())
    await asyncio.wait({stop_task, failed_task}, return_when=asyncio.FIRST_COMPLETED)
    failure = gw.supervisor.failure
    if failure is not None:
        # /readyz already says so; give a load balancer a moment to see it before we go
        await asyncio.sleep(settings.supervision.fail_grace_s)
    log.info("stopping: draining what is in flight")
    await shutdown(gw)
    stop_task.cancel()
    failed_task.cancel()
    if failure is not None:
        raise failure


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


async def shutdown(gw: Gateway) -> None:
    sup = gw.supervisor
    sup.stopping = True
    writer_task = sup.tasks.get("writer")
    mqtt_task = sup.tasks.get("mqtt-ingest")
    await sup.stop(
        [
            "notify-jobs",
            "notify-delivery",
            "alerts",
            "entitlements",
            "directory",
            "broker-access",
            "live-revocations",
            "commands",
        ],
        within_s=5,
    )
    for listener in gw.tcp:
        listener.stop_accepting()
    for udp in gw.udp:
        udp.stop_accepting()
    if gw.mqtt is not None:
        gw.mqtt.stop_reading()
    gw.intake.close()
    if writer_task is not None:
        try:
            await asyncio.wait_for(asyncio.shield(writer_task), 30)
        except (TimeoutError, Exception):
            log.exception("the writer did not drain in time")
    if gw.mqtt is not None:
        await gw.mqtt.close()
        if mqtt_task is not None:
            mqtt_task.cancel()
    for listener in gw.tcp:
        await listener.close()
    for udp in gw.udp:
        await udp.close()
    await sup.stop(within_s=5)
    for runner in gw.runners:
        await runner.cleanup()
    await gw.pool.close()
    log.info("stopped")


__all__ = ["Gateway", "TaskFailed", "build", "serve", "shutdown", "start_listeners"]
