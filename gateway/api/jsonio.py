"""JSON in and out for the /v1 API: bodies read as objects, fields checked, times as ISO."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .problems import Problem


def dumps(obj: Any) -> str:
    def default(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
        return str(value)

    return json.dumps(obj, default=default, allow_nan=False)


def respond(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=dumps)


async def body(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object (400 ``invalid-request`` otherwise)."""
    try:
        doc = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise Problem("invalid-request", "the body is not JSON") from None
    if not isinstance(doc, dict):
        raise Problem("invalid-request", "the body must be a JSON object")
    return doc


def text(
    doc: dict[str, Any], key: str, *, required: bool = True, max_len: int = 200, min_len: int = 1
) -> str | None:
    value = doc.get(key)
    if value is None:
        if required:
            raise Problem("invalid-request", f"{key!r} is required")
        return None
    if not isinstance(value, str) or not min_len <= len(value) <= max_len:
        raise Problem(
            "invalid-request", f"{key!r} must be a string of {min_len} to {max_len} characters"
        )
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value):
        raise Problem("invalid-request", f"{key!r} must not contain control characters")
    return value


def integer(text_value: str | None, name: str, *, default: int, low: int, high: int) -> int:
    if text_value is None or text_value == "":
        return default
    try:
        value = int(text_value)
    except ValueError:
        raise Problem("invalid-request", f"{name} must be an integer") from None
    if not low <= value <= high:
        raise Problem("invalid-request", f"{name} must be between {low} and {high}")
    return value


def path_int(request: web.Request, name: str) -> int:
    raw = request.match_info[name]
    if not raw.isdigit() or len(raw) > 18:
        raise Problem("not-found", f"no {name} {raw!r}")
    return int(raw)


def iso_time(value: str | None, name: str) -> datetime:
    if not value:
        raise Problem(
            "invalid-request", f"{name} is required (ISO 8601, e.g. 2024-05-01T10:00:00Z)"
        )
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Problem("invalid-request", f"{name} is not an ISO 8601 time: {value!r}") from None
    if when.tzinfo is None:
        raise Problem("invalid-request", f"{name} needs a time zone (e.g. a trailing Z)")
    return when.astimezone(UTC)
