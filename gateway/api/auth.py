"""API authentication. For now one operator token (``http.admin_token``), sent as
``Authorization: Bearer <token>``; per-user authentication is future work (see README)."""

from __future__ import annotations

import hmac

from aiohttp import web

from ..keys import SETTINGS


def require_admin(request: web.Request) -> None:
    expected = request.app[SETTINGS].http.admin_token
    header = request.headers.get("Authorization", "")
    token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    if not token or not hmac.compare_digest(token.encode(), expected.encode()):
        raise web.HTTPUnauthorized(
            text='{"error": "an admin bearer token is required"}',
            content_type="application/json",
            headers={"WWW-Authenticate": "Bearer"},
        )
