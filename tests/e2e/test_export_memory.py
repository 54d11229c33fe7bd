"""Issue 10: exports stream. A million positions leave a ``trackgw serve`` process (measured:
the RSS of that subprocess, from /proc, sampled while the response is read) with its memory
growing less than 50 MB — for ``GET /v1/me/export`` and for a history export (GPX)."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from .. import services

pytestmark = pytest.mark.e2e

POSITIONS = 1_000_000
LIMIT_KIB = 50 * 1024
ADMIN = "e2e-admin-token"


def call(base: str, method: str, path: str, token: str, body: Any = None) -> Any:
    req = urllib.request.Request(
        base + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


class Peak:
    """The highest RSS of the gateway while a download runs (sampled every 20 ms)."""

    def __init__(self, gw: services.GatewayProcess) -> None:
        self.gw = gw
        self.kib = gw.rss_kib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.kib = max(self.kib, self.gw.rss_kib())

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def download(url: str, token: str, on_line: Any = None) -> int:
    """Read the response in 64 KiB pieces (never whole); the bytes read."""
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    total = 0
    rest = b""
    with urllib.request.urlopen(req, timeout=120) as resp:
        assert resp.status == 200
        while chunk := resp.read(65536):
            total += len(chunk)
            if on_line is not None:
                lines = (rest + chunk).split(b"\n")
                rest = lines.pop()
                for line in lines:
                    on_line(line)
    return total


def test_a_million_positions_export_in_bounded_memory(db_url: str, tmp_path: Path) -> None:
    s = services.settings(db_url, http={"admin_token": ADMIN})
    gw = services.GatewayProcess(s, str(tmp_path / "gateway.log"))
    gw.start()
    try:
        base = f"http://127.0.0.1:{s.http.port}"
        email = f"{services.unique('big')}@example.org"
        req = {"email": email, "password": "pw-" + email, "name": "big"}
        call(base, "POST", "/v1/accounts", "", req)
        token = call(base, "POST", "/v1/tokens", "", req)["token"]
        device = call(
            base,
            "POST",
            "/v1/devices",
            token,
            {"protocol": "owntracks", "unique_id": f"big/{services.unique('p')}"},
        )["id"]
        circle = call(base, "POST", "/v1/circles", token, {"name": "big"})["id"]
        now = datetime.now(UTC)
        call(
            base,
            "PUT",
            f"/v1/admin/circles/{circle}/subscriptions",
            ADMIN,
            {
                "circle": circle,
                "subscriptions": [
                    {
                        "id": services.unique("sub"),
                        "plan": "gold",
                        "cycle": "monthly",
                        "started_at": (now - timedelta(days=1)).isoformat(),
                        "current_period_end": (now + timedelta(days=29)).isoformat(),
                    }
                ],
            },
        )
        with services.connect() as conn:
            conn.execute(
                "insert into positions (device_id, fix_time, received_at, lat, lon, valid,"
                " speed_kmh, course_deg, accuracy_m)"
                " select %s, %s - g * interval '1 second', now(), 52.5 + (g %% 1000) * 1e-5,"
                " 13.4, true, 12.5, 90, 5 from generate_series(1, %s) g",
                (device, now, POSITIONS),
            )
        # warm up: the first request of each route pays for imports and pool connections
        download(f"{base}/v1/devices", token)
        window = urllib.parse.urlencode(
            {"from": (now - timedelta(days=20)).isoformat(), "to": now.isoformat()}
        )
        history = f"{base}/v1/circles/{circle}/devices/{device}/history?{window}"
        download(history.replace("from=", "limit=1&from="), token)
        counted = {"position": 0}

        def on_line(line: bytes) -> None:
            if line.startswith(b'{"type": "position"'):
                counted["position"] += 1

        before = gw.rss_kib()
        started = time.monotonic()
        with Peak(gw) as peak:
            size = download(f"{base}/v1/me/export", token, on_line)
        took = time.monotonic() - started
        print(
            f"\n/v1/me/export: {counted['position']} positions, {size / 1e6:.0f} MB in"
            f" {took:.1f} s; gateway RSS {before / 1024:.1f} MiB before,"
            f" peak {peak.kib / 1024:.1f} MiB (+{(peak.kib - before) / 1024:.1f} MiB)"
        )
        assert counted["position"] == POSITIONS
        assert peak.kib - before < LIMIT_KIB

        points = {"n": 0}

        def on_trkpt(line: bytes) -> None:
            points["n"] += line.startswith(b"<trkpt")

        before = gw.rss_kib()
        started = time.monotonic()
        with Peak(gw) as peak:
            size = download(history + "&format=gpx", token, on_trkpt)
        took = time.monotonic() - started
        print(
            f"history GPX: {points['n']} trkpt, {size / 1e6:.0f} MB in {took:.1f} s;"
            f" gateway RSS {before / 1024:.1f} MiB before, peak {peak.kib / 1024:.1f} MiB"
            f" (+{(peak.kib - before) / 1024:.1f} MiB)"
        )
        assert points["n"] == POSITIONS
        assert peak.kib - before < LIMIT_KIB
    finally:
        services.clear_mqtt_session(s.mqtt.client_id)
        gw.stop()
