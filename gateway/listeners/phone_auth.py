"""Phones' HTTP credentials: each device has a secret (``trackgw devices secret``), stored
hashed (gateway/store/credentials.py) and bound to the device and so to its protocol.

* OwnTracks HTTP: the Basic credentials the app sends; the user must be the ``<user>`` of the
  device id ``<user>/<device>`` and the password the device's secret.
* Overland: its "access token" setting, sent as ``Authorization: Bearer <secret>``; the token
  names the device (a ``?device=`` that names another one is refused).
* OsmAnd / Traccar Client: the secret travels in the URL, the only thing these apps let one
  configure besides the device id: ``?key=<secret>``, or as the URL's last path segment
  (``http://host:5055/<secret>``, for Traccar Client's server URL). The key names the device;
  an ``id`` naming another device is refused. The device id alone is NOT a credential.

A request without valid credentials is answered 401 before its body is read or parsed, and
nothing of it is stored.
"""

from __future__ import annotations

import base64
import binascii

from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from ..store import credentials

#: a secret longer than this is not looked up (bounded work per request)
MAX_SECRET_LENGTH = 256


class PhoneAuth:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def device_for(self, protocol: str, secret: str | None) -> str | None:
        """The unique id of the ``protocol`` device this secret belongs to."""
        if not secret or len(secret) > MAX_SECRET_LENGTH:
            return None
        async with self.pool.connection() as conn:
            return await credentials.device_for_secret(conn, protocol, secret)

    async def matches(self, protocol: str, unique_id: str, secret: str | None) -> bool:
        if not secret or len(secret) > MAX_SECRET_LENGTH:
            return False
        async with self.pool.connection() as conn:
            return await credentials.device_secret_matches(conn, protocol, unique_id, secret)


def basic_credentials(request: web.Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or len(value) > 4 * MAX_SECRET_LENGTH:
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def bearer_token(request: web.Request) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def osmand_key(request: web.Request) -> str | None:
    """``?key=`` or the last non-empty path segment."""
    key = request.query.get("key")
    if key:
        return key
    segments = [s for s in request.path.split("/") if s]
    return segments[-1] if segments else None


def unauthorized(scheme: str) -> web.Response:
    return web.json_response(
        {"error": "unauthorized: this device's credentials are missing or wrong"},
        status=401,
        headers={"WWW-Authenticate": f'{scheme} realm="trackgw"'},
    )
