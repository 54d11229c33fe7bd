"""Issue 10: phones authenticate on HTTP with their device's secret (gateway/listeners/
phone_auth.py). Without or with wrong credentials: 401 and nothing stored; with the right
ones: stored. A secret is bound to its device and so to its protocol."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from gateway import app as gateway_app
from protocols import simulate as sim

from .. import services
from ..devices import fixes

pytestmark = pytest.mark.integration


@pytest.fixture
async def gateway(db_url: str) -> AsyncIterator[tuple[gateway_app.Gateway, aiohttp.ClientSession]]:
    async with (
        services.running_gateway(services.settings(db_url)) as gw,
        aiohttp.ClientSession() as http,
    ):
        yield gw, http


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def overland_body(device: str | None, n: int = 2) -> bytes:
    def feature(f: sim.Fix) -> dict[str, Any]:
        properties: dict[str, Any] = {
            "timestamp": f.time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "horizontal_accuracy": 5,
        }
        if device is not None:
            properties["device_id"] = device
        return {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [f.lon, f.lat]},
            "properties": properties,
        }

    return json.dumps({"locations": [feature(f) for f in fixes(n)]}).encode()


async def test_owntracks_http_needs_the_devices_basic_credentials(
    gateway: tuple[gateway_app.Gateway, aiohttp.ClientSession],
) -> None:
    gw, http = gateway
    user = services.unique("u")
    device_id, secret = services.provision_phone("owntracks", f"{user}/phone")
    _, other_secret = services.provision_phone("owntracks", f"{user}/tablet")
    _, osmand_secret = services.provision_phone("osmand", f"{user}-osm")
    url = f"http://127.0.0.1:{gw.http_port}/owntracks"
    limit = {"X-Limit-U": user, "X-Limit-D": "phone"}
    body = sim.owntracks_location(fixes(1)[0])
    refused = [
        limit,  # no credentials
        {**limit, **basic(user, "wrong-" + secret)},
        {**limit, **basic(user, other_secret)},  # another device's secret
        {**limit, **basic(user, osmand_secret)},  # a secret of another protocol's device
        {**limit, **basic("someone-else", secret)},  # Basic user is not the device's user
        {**limit, "Authorization": "Basic !!!not-base64"},
        {**limit, "Authorization": f"Bearer {secret}"},
    ]
    for headers in refused:
        async with http.post(url, data=body, headers=headers) as resp:
            assert resp.status == 401, headers
            assert resp.headers["WWW-Authenticate"].startswith("Basic")
    assert services.count_positions(device_id) == 0
    async with http.post(url, data=body, headers={**limit, **basic(user, secret)}) as resp:
        assert resp.status == 200, await resp.text()
    assert services.count_positions(device_id) == 1


async def test_overland_needs_the_devices_bearer_token(
    gateway: tuple[gateway_app.Gateway, aiohttp.ClientSession],
) -> None:
    gw, http = gateway
    device = services.unique("overland")
    device_id, token = services.provision_phone("overland", device)
    other = services.unique("overland")
    other_id, other_token = services.provision_phone("overland", other)
    _, osmand_token = services.provision_phone("osmand", services.unique("osm"))
    url = f"http://127.0.0.1:{gw.http_port}/overland"
    refused: list[tuple[str, dict[str, str], bytes]] = [
        (url, {}, overland_body(device)),
        (url, {"Authorization": "Bearer wrong"}, overland_body(device)),
        (url, {"Authorization": f"Bearer {osmand_token}"}, overland_body(device)),
        (url, basic(device, token), overland_body(device)),
        # the right token, speaking for another device: in the body or in the query
        (url, {"Authorization": f"Bearer {token}"}, overland_body(other)),
        (f"{url}?device={other}", {"Authorization": f"Bearer {token}"}, overland_body(None)),
    ]
    for target, headers, body in refused:
        async with http.post(target, data=body, headers=headers) as resp:
            assert resp.status == 401, (target, headers)
    assert services.count_positions(device_id) == 0
    assert services.count_positions(other_id) == 0
    ok = {"Authorization": f"Bearer {token}"}
    async with http.post(url, data=overland_body(None), headers=ok) as resp:
        assert resp.status == 200, await resp.text()
        assert await resp.json() == {"result": "ok"}
    assert services.count_positions(device_id) == 2
    _ = other_token


async def test_osmand_needs_the_devices_key_in_the_url(
    gateway: tuple[gateway_app.Gateway, aiohttp.ClientSession],
) -> None:
    gw, http = gateway
    device, other = services.unique("osm"), services.unique("osm")
    device_id, key = services.provision_phone("osmand", device)
    other_id, _ = services.provision_phone("osmand", other)
    _, overland_token = services.provision_phone("overland", services.unique("overland"))
    base = f"http://127.0.0.1:{gw.osmand_port}"
    track = fixes(3)

    def params(f: sim.Fix, who: str, **extra: str) -> dict[str, str]:
        return {
            "id": who,
            "timestamp": str(int(f.time.timestamp())),
            "lat": f"{f.lat:.6f}",
            "lon": f"{f.lon:.6f}",
            **extra,
        }

    refused = [
        (f"{base}/", params(track[0], device)),  # the id alone is not a credential
        (f"{base}/", params(track[0], device, key="wrong-key-wrong-key")),
        (f"{base}/", params(track[0], device, key=overland_token)),  # another protocol's
        (f"{base}/", params(track[0], other, key=key)),  # the key speaks for another device
        (f"{base}/not-the-key", params(track[0], device)),
    ]
    for url, query in refused:
        async with http.get(url, params=query) as resp:
            assert resp.status == 401, (url, query)
    assert services.count_positions(device_id) == 0
    assert services.count_positions(other_id) == 0
    async with http.get(f"{base}/", params=params(track[0], device, key=key)) as resp:
        assert resp.status == 200, await resp.text()
    async with http.post(f"{base}/{key}", params=params(track[1], device)) as resp:
        assert resp.status == 200, await resp.text()  # Traccar Client: the key as the path
    async with http.get(f"{base}/{key}", params=params(track[2], device)) as resp:
        assert resp.status == 200
    assert services.count_positions(device_id) == 3
    with services.connect() as conn:
        rows = conn.execute(
            "select attributes::text from positions where device_id = %s", (device_id,)
        ).fetchall()
    assert all(key not in str(row[0]) for row in rows)  # the key is not stored


def test_device_secrets_are_stored_hashed() -> None:
    device_id, secret = services.provision_phone("osmand", services.unique("osm"))
    with services.connect() as conn:
        stored = conn.execute(
            "select secret_sha256 from device_secrets where device_id = %s", (device_id,)
        ).fetchone()
    assert stored is not None
    assert secret.encode() not in bytes(stored[0])
    assert len(bytes(stored[0])) == 32
