"""Errors of the /v1 API as RFC 9457 problem details (``application/problem+json``).

Every refusal is a ``Problem`` with a stable ``type`` (``urn:trackgw:problem:<slug>``) that
clients may switch on; ``title`` is the slug's fixed English title, ``detail`` says what was
wrong with this request, and extra members carry the numbers (a plan limit names ``plan``,
``limit``, ``allowed`` and ``current``). ``problem_middleware`` turns them, and aiohttp's own
HTTP errors and any unexpected exception, into such responses for paths under ``/v1``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from entitlements import LimitExceeded

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
PREFIX = "urn:trackgw:problem:"

#: slug -> (status, title): the whole taxonomy, documented in docs/api.md
TYPES: dict[str, tuple[int, str]] = {
    "invalid-request": (400, "The request is not valid"),
    "invalid-id": (400, "An identifier is not allowed"),
    "bad-geometry": (400, "The place's geometry is not valid"),
    "unauthorized": (401, "A valid bearer token is required"),
    "invalid-credentials": (401, "Wrong email or password"),
    "not-admin": (401, "The operator's admin token is required"),
    "account-suspended": (403, "The account is suspended"),
    "not-owner": (403, "Only the circle's owner may do this"),
    "beyond-member-limit": (403, "You are a member beyond the plan's member limit"),
    "plan-limit": (403, "The plan's limit is reached"),
    "deletion-code-invalid": (403, "The confirmation code is not valid"),
    "not-found": (404, "Not found"),
    "method-not-allowed": (405, "Method not allowed"),
    "email-taken": (409, "An account with this email exists"),
    "conflict": (409, "The request conflicts with what exists"),
    "deletion-code-expired": (410, "The confirmation code has expired"),
    "payload-too-large": (413, "The request body is too large"),
    "unsupported-media-type": (415, "Expected a JSON body"),
    "rate-limited": (429, "Too many requests"),
    "internal": (500, "Internal error"),
    "email-unavailable": (503, "Email could not be sent"),
    "broker-unavailable": (503, "The MQTT broker cannot be reached"),
}


class Problem(Exception):
    def __init__(
        self,
        slug: str,
        detail: str = "",
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        if slug not in TYPES:
            raise KeyError(f"unknown problem type {slug!r}")
        super().__init__(detail or TYPES[slug][1])
        self.slug = slug
        self.detail = detail or TYPES[slug][1]
        self.headers = headers or {}
        self.extra = extra

    @property
    def status(self) -> int:
        return TYPES[self.slug][0]

    def body(self) -> dict[str, Any]:
        return {
            "type": PREFIX + self.slug,
            "title": TYPES[self.slug][1],
            "status": self.status,
            "detail": self.detail,
            **self.extra,
        }

    def response(self) -> web.Response:
        return web.Response(
            status=self.status,
            text=json.dumps(self.body(), default=str),
            content_type=MEDIA_TYPE,
            headers=self.headers,
        )


def plan_limit(exc: LimitExceeded) -> Problem:
    """A plan refusal naming the plan and the limit, with the numbers."""
    return Problem(
        "plan-limit",
        str(exc),
        plan=exc.plan,
        limit=exc.limit,
        allowed=exc.allowed,
        current=exc.current,
    )


def not_found(what: str) -> Problem:
    return Problem("not-found", f"no {what}")


_FROM_STATUS = {
    400: "invalid-request",
    401: "unauthorized",
    404: "not-found",
    405: "method-not-allowed",
    413: "payload-too-large",
    415: "unsupported-media-type",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/v1/"):
        return await handler(request)
    try:
        return await handler(request)
    except Problem as exc:
        return exc.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        slug = _FROM_STATUS.get(exc.status, "invalid-request" if exc.status < 500 else "internal")
        problem = Problem(slug, exc.reason)
        response = problem.response()
        response.set_status(exc.status)
        if exc.status == 405:
            allow = exc.headers.get("Allow")
            if allow:
                response.headers["Allow"] = allow
        return response
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return Problem("internal", "an unexpected error; it has been logged").response()
