"""The OpenAPI 3.1 document of the /v1 API, served at ``GET /v1/openapi.json``.

Written here beside the routes and checked against them by a test (every /v1 route is
documented, every documented operation is routed) and by schemathesis (responses match).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .problems import MEDIA_TYPE, PREFIX, TYPES

JSON = "application/json"

_ID = {"type": "string"}
_TIME = {"type": "string", "format": "date-time"}
_NULL_TIME = {"type": ["string", "null"], "format": "date-time"}


def _obj(required: list[str], **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props}


_PROBLEM = _obj(
    ["type", "title", "status", "detail"],
    type={"type": "string", "enum": [PREFIX + slug for slug in TYPES]},
    title={"type": "string"},
    status={"type": "integer"},
    detail={"type": "string"},
    plan={"type": "string"},
    limit={"type": "string"},
    allowed={"type": ["integer", "null"]},
    current={"type": "integer"},
)
_ACCOUNT = _obj(
    ["id", "email", "name", "status", "created_at"],
    id=_ID,
    email={"type": ["string", "null"]},
    name={"type": ["string", "null"]},
    status={"type": "string", "enum": ["active", "suspended", "deleted"]},
    created_at=_TIME,
)
_TOKEN = _obj(
    ["id", "name", "created_at", "expires_at"],
    id={"type": "integer"},
    name={"type": "string"},
    created_at=_TIME,
    expires_at=_TIME,
    last_used_at=_NULL_TIME,
)
_DEVICE = _obj(
    ["id", "unique_id", "protocol", "kind"],
    id={"type": "integer"},
    secret={"type": "string", "description": "a phone's HTTP secret, only when just added"},
    unique_id={"type": "string"},
    protocol={"type": "string"},
    kind={"type": "string", "enum": ["tag", "phone"]},
    name={"type": ["string", "null"]},
    created_at=_TIME,
)
_CIRCLE = _obj(
    ["id", "name", "owner", "in_plan", "plan"],
    id=_ID,
    name={"type": ["string", "null"]},
    owner=_ID,
    is_owner={"type": "boolean"},
    in_plan={"type": "boolean"},
    plan={"type": "string"},
    limits={"type": "object"},
)
_LATEST = {
    "type": ["object", "null"],
    "required": ["fix_time", "lat", "lon"],
    "properties": {"fix_time": _TIME, "lat": {"type": "number"}, "lon": {"type": "number"}},
}
_MEMBERS = _obj(
    ["circle", "plan", "items"],
    circle=_ID,
    plan={"type": "string"},
    member_limit={"type": ["integer", "null"]},
    items={
        "type": "array",
        "items": _obj(
            ["account", "in_plan", "joined_at"],
            account=_ID,
            name={"type": ["string", "null"]},
            owner={"type": "boolean"},
            joined_at=_TIME,
            in_plan={"type": "boolean"},
            devices={
                "type": "array",
                "items": _obj(["id", "kind", "latest"], id={"type": "integer"}, latest=_LATEST),
            },
        ),
    },
)
_FEATURE = _obj(
    ["type", "geometry", "properties"],
    type={"type": "string", "enum": ["Feature"]},
    geometry={"type": "object"},
    properties=_obj(
        [], id={"type": "string"}, name={"type": "string"}, radius_m={"type": "number"}
    ),
)
_PLACE = _obj(
    ["id", "circle", "name", "kind"],
    id={"type": "integer"},
    circle=_ID,
    name={"type": "string"},
    kind={"type": "string", "enum": ["circle", "polygon"]},
    geometry={"type": "object"},
    radius_m={"type": ["number", "null"]},
    created_at=_TIME,
)
_FIX = _obj(
    ["fix_time", "lat", "lon", "valid"],
    fix_time=_TIME,
    lat={"type": "number"},
    lon={"type": "number"},
    valid={"type": "boolean"},
)
_ALERTS = _obj(
    ["items", "next"],
    items={
        "type": "array",
        "items": _obj(
            ["kind", "time", "device"],
            id={"type": "integer"},
            kind={"type": "string"},
            time=_TIME,
            device={"type": "integer"},
            device_name={"type": ["string", "null"]},
            subject={"type": "string"},
            payload={"type": "object"},
        ),
    },
    next={"type": ["string", "null"]},
)


_IDS = {
    "type": ["array", "null"],
    "minItems": 1,
    "maxItems": 100,
    "items": {"type": ["string", "integer"]},
}
_RULE_BODY = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "kinds": {"type": ["array", "null"], "minItems": 1, "items": {"type": "string"}},
        "places": _IDS,
        "members": _IDS,
        "channels": {
            "type": ["array", "null"],
            "minItems": 1,
            "items": {"type": "string", "enum": ["mqtt", "email"]},
        },
        "window": {
            "type": ["object", "null"],
            "required": ["start", "end"],
            "properties": {
                "start": {"type": "string", "examples": ["22:00"]},
                "end": {"type": "string", "examples": ["07:00"]},
                "tz": {"type": "string", "examples": ["Europe/Berlin"]},
            },
        },
    },
}
_RULE = _obj(
    ["id", "kinds", "places", "members", "channels", "window", "created_at"],
    id={"type": "integer"},
    kinds={"type": ["array", "null"], "items": {"type": "string"}},
    places={"type": ["array", "null"], "items": {"type": "string"}},
    members={"type": ["array", "null"], "items": {"type": "string"}},
    channels={"type": "array", "items": {"type": "string"}},
    window={"type": ["object", "null"]},
    created_at=_TIME,
)
_NOTIFICATIONS = _obj(
    ["items", "next"],
    items={
        "type": "array",
        "items": _obj(
            ["id", "kind", "channel", "status", "created_at"],
            id={"type": "integer"},
            kind={"type": "string"},
            channel={"type": "string", "enum": ["mqtt", "email"]},
            circle={"type": ["string", "null"]},
            status={"type": "string", "enum": ["pending", "sent", "dead"]},
            created_at=_TIME,
            sent_at=_NULL_TIME,
            attempts={"type": "integer"},
            payload={"type": "object"},
        ),
    },
    next={"type": ["string", "null"]},
)
_NOTIFY_SETTINGS = _obj(["email"], email={"type": "boolean"})


def _notification_paths() -> dict[str, Any]:
    rule = [CIRCLE, _path("rule", _INT_ID)]
    return {
        "/v1/me/notifications": {
            "get": _op(
                "what I was told (or am about to be), newest first",
                (200, _NOTIFICATIONS),
                (403,),
                params=[
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 500}),
                    _query("before", {"type": "integer", "minimum": 1}),
                ],
            )
        },
        "/v1/me/notification-settings": {
            "get": _op("my notification settings", (200, _NOTIFY_SETTINGS), (403,)),
            "put": _op(
                "opt in to (or out of) email for alerts",
                (200, _NOTIFY_SETTINGS),
                (403,),
                body=_NOTIFY_SETTINGS,
            ),
        },
        "/v1/circles/{circle}/rules": {
            "get": _op("my rules in the circle", (200, _items(_RULE)), (403, 404), params=[CIRCLE]),
            "post": _op(
                "add a rule (with rules, I am told only what one of them matches)",
                (201, _RULE),
                (403, 404, 409),
                params=[CIRCLE],
                body=_RULE_BODY,
            ),
        },
        "/v1/circles/{circle}/rules/{rule}": {
            "put": _op("replace a rule", (200, _RULE), (403, 404), params=rule, body=_RULE_BODY),
            "delete": _op("delete a rule", (204, None), (403, 404), params=rule),
        },
        "/v1/devices/{device}": {
            "patch": _op(
                "set my device's expected reporting interval ('tracking stopped' after it)",
                (
                    200,
                    _obj(
                        ["id", "expected_interval_s"],
                        id={"type": "integer"},
                        expected_interval_s={"type": ["integer", "null"]},
                    ),
                ),
                (403, 404),
                params=[_path("device", _INT_ID)],
                body=_obj(
                    ["expected_interval_s"],
                    expected_interval_s={
                        "type": ["integer", "null"],
                        "minimum": 10,
                        "maximum": 604800,
                    },
                ),
            ),
        },
    }


def _items(schema: dict[str, Any]) -> dict[str, Any]:
    return _obj(["items"], items={"type": "array", "items": schema})


def _path(name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string"}}


def _query(name: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema}


_INT_ID = {"type": "integer", "minimum": 1}


def _op(
    summary: str,
    ok: tuple[int, dict[str, Any] | None] | tuple[int, dict[str, Any] | None, str],
    errors: tuple[int, ...],
    *,
    body: dict[str, Any] | None = None,
    params: list[dict[str, Any]] | None = None,
    auth: str | None = "member",
) -> dict[str, Any]:
    status, schema = ok[0], ok[1]
    media = ok[2] if len(ok) == 3 else JSON
    responses: dict[str, Any] = {}
    if schema is None:
        responses[str(status)] = {"description": "done"}
    else:
        responses[str(status)] = {"description": "success", "content": {media: {"schema": schema}}}
    codes = set(errors) | {400, 429, 500} | ({401} if auth else set())
    for code in sorted(codes):
        responses[str(code)] = {
            "description": "a problem (RFC 9457)",
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        if code == 429:
            responses[str(code)]["headers"] = {
                "Retry-After": {"schema": {"type": "string"}, "required": True}
            }
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {"required": True, "content": {JSON: {"schema": body}}}
    op["security"] = [{auth: []}] if auth else []
    return op


def _str(max_len: int = 200, min_len: int = 1) -> dict[str, Any]:
    return {"type": "string", "minLength": min_len, "maxLength": max_len}


CIRCLE = _path("circle")


def document() -> dict[str, Any]:
    credentials = _obj(
        ["email", "password"],
        email={"type": "string", "format": "email", "maxLength": 254},
        password=_str(256, 8),
        name=_str(100),
        expires_in_days={"type": "integer", "minimum": 1},
    )
    history_params = [
        CIRCLE,
        _path("device", _INT_ID),
        _query("from", _TIME, required=True),
        _query("to", _TIME, required=True),
        _query("format", {"type": "string", "enum": ["json", "gpx", "geojson", "csv"]}),
        _query("bucket", {"type": "integer", "minimum": 0, "maximum": 86400}),
        _query("limit", {"type": "integer", "minimum": 1, "maximum": 10000}),
        _query("cursor", {"type": "string"}),
    ]
    paths: dict[str, Any] = {
        "/v1/openapi.json": {"get": _op("this document", (200, {"type": "object"}), (), auth=None)},
        "/v1/accounts": {
            "post": _op(
                "sign up",
                (201, _ACCOUNT),
                (409,),
                body=_obj(
                    ["email", "password", "name"],
                    email={"type": "string", "format": "email", "maxLength": 254},
                    password=_str(256, 8),
                    name=_str(100),
                ),
                auth=None,
            )
        },
        "/v1/tokens": {
            "post": _op(
                "sign in: a bearer token",
                (
                    201,
                    _obj(
                        ["token", "id", "expires_at"],
                        token={"type": "string"},
                        account=_ID,
                        id={"type": "integer"},
                        expires_at=_TIME,
                    ),
                ),
                (401, 403),
                body=credentials,
                auth=None,
            ),
            "get": _op("my tokens", (200, _items(_TOKEN)), (403,)),
        },
        "/v1/tokens/{token}": {
            "delete": _op("revoke a token", (204, None), (403, 404), params=[_path("token")])
        },
        "/v1/me": {
            "get": _op("my account and circles", (200, _ACCOUNT), (403,)),
            "delete": _op(
                "ask to delete my account: a code is emailed",
                (202, _obj(["status", "expires_at", "subscription"])),
                (403, 409, 503),
            ),
        },
        "/v1/me/deletion": {
            "post": _op(
                "confirm the deletion with the emailed code",
                (
                    200,
                    _obj(
                        ["status", "deleted", "subscription"],
                        deleted={"type": "object"},
                        subscription={"type": "string"},
                        subscription_cancelled={"type": "boolean", "enum": [False]},
                    ),
                ),
                (403, 410),
                body=_obj(["code"], code=_str(32)),
            )
        },
        "/v1/me/mqtt": {
            "post": _op(
                "my own broker client: where to connect, a new password, my topics",
                (
                    201,
                    _obj(
                        ["host", "port", "username", "password", "topics"],
                        host={"type": "string"},
                        port={"type": "integer"},
                        username={"type": "string"},
                        password={"type": "string"},
                        topics=_obj(
                            ["publish", "subscribe"],
                            publish={"type": "array", "items": {"type": "string"}},
                            subscribe={"type": "array", "items": {"type": "string"}},
                        ),
                    ),
                ),
                (403, 404, 503),
            )
        },
        "/v1/me/export": {
            "get": _op(
                "all my positions, places and events (NDJSON)",
                (200, {"type": "string"}, "application/x-ndjson"),
                (403,),
            )
        },
        "/v1/devices": {
            "post": _op(
                "add my device (the plan's tag limit applies)",
                (201, _DEVICE),
                (403, 409),
                body=_obj(
                    ["protocol", "unique_id"],
                    protocol=_str(32),
                    unique_id=_str(128),
                    name=_str(100),
                ),
            ),
            "get": _op("my devices", (200, _items(_DEVICE)), (403,)),
        },
        "/v1/devices/{device}": {
            "delete": _op(
                "delete my device and its history",
                (200, _obj(["id", "deleted"])),
                (403, 404),
                params=[_path("device", _INT_ID)],
            )
        },
        "/v1/devices/{device}/secret": {
            "post": _op(
                "a new HTTP secret for my phone (OwnTracks/Overland/OsmAnd); the old one stops",
                (201, _obj(["id", "secret"], id={"type": "integer"}, secret={"type": "string"})),
                (403, 404),
                params=[_path("device", _INT_ID)],
            )
        },
        "/v1/circles": {
            "post": _op(
                "create a circle (the plan's circle limit applies)",
                (201, _obj(["id"], id=_ID, name={"type": "string"}, owner=_ID)),
                (403,),
                body=_obj(["name"], name=_str(100)),
            ),
            "get": _op("my circles", (200, _items(_CIRCLE)), (403,)),
        },
        "/v1/circles/{circle}": {
            "get": _op("one of my circles", (200, _CIRCLE), (403, 404), params=[CIRCLE])
        },
        "/v1/circles/{circle}/invites": {
            "post": _op(
                "a single-use invitation code (expires in 7 days)",
                (201, _obj(["code", "expires_at"], code={"type": "string"}, expires_at=_TIME)),
                (403, 404),
                params=[CIRCLE],
            )
        },
        "/v1/invites/{code}": {
            "post": _op(
                "join a circle with an invitation code",
                (200, _CIRCLE),
                (403, 404),
                params=[_path("code")],
            )
        },
        "/v1/circles/{circle}/members": {
            "get": _op(
                "members, in-plan ones with their devices' latest positions",
                (200, _MEMBERS),
                (403, 404),
                params=[CIRCLE],
            )
        },
        "/v1/circles/{circle}/members/{account}": {
            "delete": _op(
                "the owner removes a member, or a member leaves",
                (204, None),
                (403, 404, 409),
                params=[CIRCLE, _path("account")],
            )
        },
        "/v1/circles/{circle}/places": {
            "get": _op("the circle's places", (200, _items(_PLACE)), (403, 404), params=[CIRCLE]),
            "post": _op(
                "add a place (GeoJSON Feature; the plan's place limit applies)",
                (201, _PLACE),
                (403, 404, 409),
                params=[CIRCLE],
                body=_FEATURE,
            ),
        },
        "/v1/circles/{circle}/places/{place}": {
            "put": _op(
                "replace a place",
                (200, _PLACE),
                (403, 404, 409),
                params=[CIRCLE, _path("place", _INT_ID)],
                body=_FEATURE,
            ),
            "delete": _op(
                "delete a place",
                (204, None),
                (403, 404),
                params=[CIRCLE, _path("place", _INT_ID)],
            ),
        },
        "/v1/circles/{circle}/devices/{device}/history": {
            "get": _op(
                "a member's device's track within the plan's window (paged, or an export)",
                (
                    200,
                    _obj(
                        ["device", "fixes", "next"],
                        device={"type": "integer"},
                        fixes={"type": "array", "items": _FIX},
                        next={"type": ["string", "null"]},
                    ),
                ),
                (403, 404),
                params=history_params,
            )
        },
        "/v1/circles/{circle}/alerts": {
            "get": _op(
                "the circle's recent events, newest first, paged",
                (200, _ALERTS),
                (403, 404),
                params=[
                    CIRCLE,
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
                    _query("cursor", {"type": "string"}),
                ],
            )
        },
        "/v1/circles/{circle}/live": {
            "get": _op(
                "the circle live as Server-Sent Events: a snapshot, then positions and alerts"
                " as they commit (docs/live.md); a bearer token or ?ticket=",
                (200, {"type": "string"}, "text/event-stream"),
                (403, 404),
                params=[
                    CIRCLE,
                    _query("ticket", {"type": "string"}),
                    _query("last_event_id", {"type": "string"}),
                ],
            )
        },
        "/v1/circles/{circle}/live/ws": {
            "get": _op(
                "the same stream over a WebSocket (one JSON object per message)",
                (101, None),
                (403, 404),
                params=[
                    CIRCLE,
                    _query("ticket", {"type": "string"}),
                    _query("last_event_id", {"type": "string"}),
                ],
            )
        },
        "/v1/circles/{circle}/live/tickets": {
            "post": _op(
                "a 60 s ticket for the live stream's ?ticket= (browsers' EventSource)",
                (
                    201,
                    _obj(
                        ["ticket", "expires"],
                        ticket={"type": "string"},
                        expires={"type": "integer"},
                    ),
                ),
                (403, 404),
                params=[CIRCLE],
            )
        },
    }
    track = paths["/v1/circles/{circle}/devices/{device}/history"]["get"]["responses"]["200"]
    for media in ("application/gpx+xml", "application/geo+json", "text/csv"):
        track["content"][media] = {"schema": {"type": "string"}}
    paths.update(_admin_paths())
    paths.update(_command_paths())
    for route, ops in _notification_paths().items():
        paths.setdefault(route, {}).update(ops)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "trackgw API",
            "version": "1",
            "description": "Members' and operators' API; see docs/api.md.",
        },
        "paths": paths,
        "components": {
            "schemas": {"Problem": _PROBLEM},
            "securitySchemes": {
                "member": {"type": "http", "scheme": "bearer", "description": "POST /v1/tokens"},
                "admin": {"type": "http", "scheme": "bearer", "description": "http.admin_token"},
            },
        },
    }


_COMMAND = _obj(
    ["id", "device", "command", "state", "created_at", "expires_at"],
    id={"type": "integer"},
    device={"type": "integer"},
    unique_id={"type": "string"},
    protocol={"type": "string"},
    command={"type": "string"},
    argument={"type": ["string", "null"]},
    state={"type": "string", "enum": ["queued", "sent", "answered", "expired", "failed"]},
    requested_by={"type": "string"},
    created_at={"type": "string"},
    expires_at={"type": "string"},
    sent_at={"type": ["string", "null"]},
    answered_at={"type": ["string", "null"]},
    payload={"type": ["string", "null"], "description": "the bytes written, in hex"},
    response={"type": ["object", "null"], "description": "what the device answered"},
    error={"type": ["string", "null"]},
)
_COMMAND_BODY = _obj(
    ["command"],
    command={
        "type": "string",
        "enum": ["locate", "interval", "reboot", "engine_stop", "engine_resume", "find", "raw"],
    },
    argument={"type": ["string", "integer"], "description": "interval seconds; raw text"},
    expires_in_s={"type": "integer", "minimum": 1},
)


def _command_paths() -> dict[str, Any]:
    device = [_path("device", _INT_ID)]
    return {
        "/v1/devices/{device}/commands": {
            "post": _op(
                "queue a command to my device (sent when it is connected; docs/protocols.md)",
                (201, _COMMAND),
                (403, 404),
                body=_COMMAND_BODY,
                params=device,
            ),
            "get": _op(
                "my device's commands, newest first, with their state and the device's answer",
                (200, _items(_COMMAND)),
                (403, 404),
                params=device,
            ),
        },
        "/v1/admin/devices/{device}/commands": {
            "post": _op(
                "queue a command to any device",
                (201, _COMMAND),
                (403, 404, 409),
                body=_COMMAND_BODY,
                params=device,
                auth="admin",
            )
        },
    }


def _admin_paths() -> dict[str, Any]:
    def adm(summary: str, ok: Any, errors: tuple[int, ...] = (), **kw: Any) -> dict[str, Any]:
        return _op(summary, ok, (403, 404, 409, *errors), auth="admin", **kw)

    account = _path("account")
    any_obj = {"type": "object"}
    return {
        "/v1/admin/accounts": {
            "post": adm(
                "create an account (no sign-in)",
                (201, any_obj),
                body=_obj([], id=_str(128), name=_str(100)),
            )
        },
        "/v1/admin/accounts/{account}": {
            "get": adm("an account", (200, any_obj), params=[account])
        },
        "/v1/admin/accounts/{account}/suspension": {
            "put": adm("suspend an account", (200, any_obj), params=[account]),
            "delete": adm("lift a suspension", (200, any_obj), params=[account]),
        },
        "/v1/admin/devices": {
            "post": adm(
                "provision a device",
                (201, any_obj),
                body=_obj(
                    ["protocol", "unique_id", "account"],
                    protocol=_str(32),
                    unique_id=_str(128),
                    account=_str(128),
                    name=_str(100),
                ),
            ),
            "get": adm(
                "devices",
                (200, _items(any_obj)),
                params=[_query("account", {"type": "string"})],
            ),
        },
        "/v1/admin/circles": {
            "post": adm(
                "create a circle",
                (201, any_obj),
                body=_obj(["id", "owner"], id=_str(128), owner=_str(128), name=_str(100)),
            )
        },
        "/v1/admin/circles/{circle}/places": {
            "get": adm("places", (200, {"type": "array"}), params=[CIRCLE]),
            "post": adm(
                "add places (Feature or FeatureCollection)",
                (201, {"type": "array"}),
                params=[CIRCLE],
                body=any_obj,
            ),
        },
        "/v1/admin/circles/{circle}/history/{device}": {
            "get": adm(
                "a device's track (by its own id)",
                (200, any_obj),
                params=[CIRCLE, _path("device"), *[p for p in _history_query()]],
            )
        },
        "/v1/admin/circles/{circle}/subscriptions": {
            "put": adm(
                "replace the circle's app-store subscriptions (never its Stripe ones)",
                (200, any_obj),
                params=[CIRCLE],
                body=any_obj,
            )
        },
        "/v1/admin/circles/{circle}/entitlement": {
            "get": adm(
                "what the gateway enforces for the circle now", (200, any_obj), params=[CIRCLE]
            )
        },
    }


def _history_query() -> list[dict[str, Any]]:
    return [
        _query("from", _TIME, required=True),
        _query("to", _TIME, required=True),
        _query("format", {"type": "string", "enum": ["json", "gpx", "geojson", "csv"]}),
    ]


_DOCUMENT = document()


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(_DOCUMENT)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/openapi.json", openapi_json)
