"""The aiohttp ``AppKey``s under which the running gateway keeps its parts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from psycopg_pool import AsyncConnectionPool

if TYPE_CHECKING:
    from .config import Settings
    from .entitlement_service import EntitlementService
    from .listeners.mqtt import MqttIngest
    from .live.hub import LiveHub
    from .pipeline.batcher import Writer

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
POOL: web.AppKey[AsyncConnectionPool] = web.AppKey("pool")
WRITER: web.AppKey[Writer] = web.AppKey("writer")
MQTT_INGEST: web.AppKey[MqttIngest] = web.AppKey("mqtt_ingest")
ENTITLEMENTS: web.AppKey[EntitlementService] = web.AppKey("entitlements")
if TYPE_CHECKING:
    from .supervisor import Supervisor

SUPERVISOR: web.AppKey[Supervisor] = web.AppKey("supervisor")
LIVE: web.AppKey[LiveHub] = web.AppKey("live")
