"""Migrates, assembles the gateway and (optionally) the demo, and runs it."""

from __future__ import annotations

import asyncio
import logging

from . import app
from . import demo as demo_phone
from .config import Settings
from .store import migrate

log = logging.getLogger(__name__)


async def run_gateway(
    settings: Settings, *, demo: bool = False, stop: asyncio.Event | None = None
) -> None:
    """Migrate, then serve until ``stop`` (or a signal); with ``demo``, also provision the demo
    circle and run a simulated phone."""
    await asyncio.to_thread(migrate.migrate, settings.database.url)
    if demo:
        key = await asyncio.to_thread(demo_phone.provision, settings.database.url)
        log.info(
            "demo: provisioned account %r, circle %r and phone %r",
            demo_phone.DEMO_ACCOUNT,
            demo_phone.DEMO_CIRCLE,
            key,
        )

    async def on_ready(gw: app.Gateway) -> None:
        if demo:  # supervised like every other task (stopped with the gateway)
            gw.supervisor.start("demo-phone", demo_phone.run_phone(settings))
            gw.supervisor.start("demo-report", demo_phone.run_reporter(settings))
            host = settings.http.host
            if host in ("", "0.0.0.0", "::"):  # every address: loopback is one of them
                host = "127.0.0.1"
            elif ":" in host:
                host = f"[{host}]"
            log.info(
                "demo: the live page is at http://%s:%d/ — sign in as %s with password %s",
                host,
                settings.http.port,
                demo_phone.DEMO_EMAIL,
                demo_phone.DEMO_SIGN_IN_PASSWORD,
            )

    await app.serve(settings, stop=stop, on_ready=on_ready)
