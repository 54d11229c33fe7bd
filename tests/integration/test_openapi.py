"""The OpenAPI document against the routes, and schemathesis over it against ``trackgw serve``.

The route check builds the gateway's real aiohttp app. The property-based run drives a
bounded number of generated requests per operation at a gateway subprocess (sync requests
would block an in-process gateway's loop), as a signed-in member: no response may be a 5xx,
and every response must match the document (status, content type, schema).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.api import openapi

from .. import services
from .mailbox import smtp_server

pytestmark = pytest.mark.integration

METHODS = {"get", "post", "put", "delete", "patch"}


async def test_every_route_is_documented_and_every_documented_path_routed(db_url: str) -> None:
    s = services.settings(db_url)
    async with services.running_gateway(s) as gw:
        routed = {
            (route.method.lower(), route.resource.canonical)
            for route in gw.app.router.routes()
            if route.resource is not None
            and route.resource.canonical.startswith("/v1/")
            and route.method.lower() in METHODS
        }
    doc = openapi.document()
    documented = {
        (method, path) for path, ops in doc["paths"].items() for method in ops if method in METHODS
    }
    assert routed - documented == set(), "routes missing from /v1/openapi.json"
    assert documented - routed == set(), "documented operations that are not routed"
    # every operation says how it fails
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert "500" in op["responses"], (method, path)
            assert "429" in op["responses"], (method, path)


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def gateway(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A ``trackgw serve`` subprocess and a member token for it: (base URL, token)."""
    with smtp_server() as (_, smtp_port):
        s = services.settings(
            db_url,
            api={"token_burst": 100_000, "anonymous_burst": 100_000},
            smtp={"host": "127.0.0.1", "port": smtp_port},
        )
        log = Path(tmp_path_factory.mktemp("schemathesis")) / "gateway.log"
        gw = services.GatewayProcess(s, str(log))
        gw.start()
        try:
            yield _member(f"http://127.0.0.1:{s.http.port}")
        finally:
            services.clear_mqtt_session(s.mqtt.client_id)
            gw.stop()


def _member(base: str) -> tuple[str, str]:
    """A new account signed in: (base URL, its token)."""
    email = f"{services.unique('st')}@example.org"
    _post(f"{base}/v1/accounts", {"email": email, "password": "pw-" + email, "name": "st"})
    token = _post(f"{base}/v1/tokens", {"email": email, "password": "pw-" + email})["token"]
    return base, token


schema = schemathesis.openapi.from_dict(openapi.document())


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_property_based(case: Any, gateway: tuple[str, str]) -> None:
    base, token = gateway
    response = case.call(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    case.validate_response(
        response,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
