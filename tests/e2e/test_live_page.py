"""Issue 11, the live page in a real browser: Debian's Chromium driven by Playwright (the system
browser as its executable; `make test` installs it). Sign in, pick the circle, a phone's
position moves its marker, an enter alert appears in the feed, history replay draws the
track, a Free circle shows the plan's refusal — and no request leaves the machine.

Screenshots (desktop and phone size) are written to `.artifacts/` (ignored by git) for people
to look at."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from gateway.web.routes import DIST

from .. import services
from ..integration.member_client import Api
from ..integration.test_alerts import set_plan_async

pytestmark = pytest.mark.e2e

ARTIFACTS = services.ROOT / ".artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: the flags a headless Chromium needs on a closed network (no background fetches at all)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
]
SCHOOL = (52.5200, 13.4050)  # lat, lon


def _tools_present() -> None:
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: make test installs it"
    assert (DIST / "index.html").is_file(), "the page is not built: run make web"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    _tools_present()
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


def owntracks(lat: float, lon: float, t: datetime, batt: int = 77) -> bytes:
    return json.dumps(
        {
            "_type": "location",
            "tst": int(t.timestamp()),
            "lat": lat,
            "lon": lon,
            "acc": 8,
            "batt": batt,
            "tid": "an",
        }
    ).encode()


class Phone:
    """Anna's OwnTracks phone in HTTP mode, with the secret the member API gave it."""

    def __init__(self, http: aiohttp.ClientSession, port: int, key: str, secret: str) -> None:
        self.http, self.url, self.key = http, f"http://127.0.0.1:{port}/owntracks", key
        user, _, device = key.partition("/")
        basic = base64.b64encode(f"{user}:{secret}".encode()).decode()
        self.headers = {
            "Authorization": f"Basic {basic}",
            "X-Limit-U": user,
            "X-Limit-D": device,
            "Content-Type": "application/json",
        }

    async def at(self, lat: float, lon: float, t: datetime) -> None:
        async with self.http.post(self.url, data=owntracks(lat, lon, t), headers=self.headers) as r:
            assert r.status == 200, await r.text()


async def sign_in(page: Page, base: str, email: str, password: str) -> None:
    await page.goto(base + "/")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#view")).to_be_visible()


async def test_the_live_page_signs_in_follows_the_phone_and_replays(
    db_url: str, browser: Browser
) -> None:
    s = services.settings(db_url, http={"admin_token": "test-admin-token"})
    base = f"http://127.0.0.1:{s.http.port}"
    requests: list[str] = []
    async with services.running_gateway(s) as gw, aiohttp.ClientSession() as http:
        api = Api(http, s.http.port)
        email, password = f"{services.unique('anna')}@example.org", "anna-password-1"
        r = await api.call(
            "POST", "/v1/accounts", json={"email": email, "password": password, "name": "Anna"}
        )
        assert r.status == 201, r.body
        token = await api.call("POST", "/v1/tokens", json={"email": email, "password": password})
        anna = token.body["token"]
        circle = await api.call("POST", "/v1/circles", anna, json={"name": "Family"})
        circle_id = circle.body["id"]
        await set_plan_async(circle_id, "gold")  # history replay
        await gw.entitlements.reload_soon()
        key = f"alice/{services.unique('anna')}"
        added = await api.call(
            "POST", "/v1/devices", anna, json={"protocol": "owntracks", "unique_id": key,
                                                "name": "Anna's phone"}
        )  # fmt: skip
        assert added.status == 201, added.body
        place = {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [SCHOOL[1], SCHOOL[0]]},
            "properties": {"name": "school", "radius_m": 150},
        }
        assert (
            await api.call("POST", f"/v1/circles/{circle_id}/places", anna, json=place)
        ).status == 201
        phone = Phone(http, s.http.port, key, added.body["secret"])
        now = datetime.now(UTC).replace(microsecond=0)
        track = [(SCHOOL[0] - 0.01 + i * 0.0005, SCHOOL[1]) for i in range(10)]
        for i, (lat, lon) in enumerate(track):  # this morning's walk, for the replay
            await phone.at(lat, lon, now - timedelta(minutes=40 - i))

        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        page = await context.new_page()
        page.on("request", lambda req: requests.append(req.url))
        await sign_in(page, base, email, password)
        await expect(page.locator("#circle")).to_have_value(circle_id)
        await expect(page.locator("#members")).to_contain_text("Anna")
        await expect(page.locator("#plan")).to_contain_text("gold")
        marker = page.locator(".leaflet-marker-icon").first
        await expect(marker).to_be_visible()
        before = await marker.bounding_box()

        # the phone walks into the school: its marker moves, the enter alert arrives live
        for i in range(4):
            await phone.at(SCHOOL[0] + i * 0.0001, SCHOOL[1], now - timedelta(minutes=3 - i))
        await expect(page.locator("#alerts li[data-kind='enter']").first).to_contain_text(
            "school", timeout=20_000
        )
        await expect(page.locator("#live-state")).to_have_class("live-state on")
        await page.wait_for_function(
            "(lat) => [...document.querySelectorAll('.leaflet-marker-icon')]"
            ".some(m => Math.abs(Number(m.dataset.lat) - lat) < 0.001)",
            arg=SCHOOL[0],
            timeout=15_000,
        )
        after = await marker.bounding_box()
        assert before is not None
        assert after is not None
        assert (before["x"], before["y"]) != (after["x"], after["y"])  # it moved on the map
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "live-page-desktop.png"))

        # history replay of this morning draws the track and a time slider
        await page.locator("#history-device").select_option(str(added.body["id"]))
        await page.locator("#history-day").fill(now.strftime("%Y-%m-%d"))
        await page.get_by_role("button", name="Replay").click()
        await expect(page.locator("#history-message")).to_contain_text("positions", timeout=10_000)
        assert int(await page.locator("#map").get_attribute("data-track") or 0) >= len(track)
        await expect(page.locator("#history-slider")).to_be_visible()
        await page.screenshot(path=str(ARTIFACTS / "live-page-replay.png"))

        # the same page on a phone-sized screen
        small = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
        mobile = await small.new_page()
        mobile.on("request", lambda req: requests.append(req.url))
        await sign_in(mobile, base, email, password)
        await expect(mobile.locator(".leaflet-marker-icon").first).to_be_visible()
        await mobile.screenshot(path=str(ARTIFACTS / "live-page-phone.png"), full_page=True)
        await small.close()
        await context.close()

    hosts = {urlsplit(u).hostname for u in requests if not u.startswith(("data:", "blob:"))}
    assert hosts == {"127.0.0.1"}, hosts  # nothing fetched from anywhere else


async def test_a_free_circle_shows_the_replay_refusal_and_the_place_limit(
    db_url: str, browser: Browser
) -> None:
    s = services.settings(db_url)
    base = f"http://127.0.0.1:{s.http.port}"
    async with services.running_gateway(s), aiohttp.ClientSession() as http:
        api = Api(http, s.http.port)
        email, password = f"{services.unique('bo')}@example.org", "bo-password-12"
        r = await api.call(
            "POST", "/v1/accounts", json={"email": email, "password": password, "name": "Bo"}
        )
        assert r.status == 201
        bo = (
            await api.call("POST", "/v1/tokens", json={"email": email, "password": password})
        ).body["token"]
        await api.call("POST", "/v1/circles", bo, json={"name": "Bo's"})
        tag = await api.device(bo, "teltonika", services.unique_imei())
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        page = await context.new_page()
        await sign_in(page, base, email, password)
        await expect(page.locator("#plan")).to_contain_text("free")
        await page.locator("#history-device").select_option(str(tag))
        await page.get_by_role("button", name="Replay").click()
        refusal = page.locator("#history-message.refused")
        await expect(refusal).to_contain_text("no history replay", timeout=10_000)
        # places: click the map, name it, add; past the Free plan's limit the reason is shown
        for n in range(3):
            await page.locator("#map").click(position={"x": 300 + 40 * n, "y": 300})
            await page.get_by_label("Name").fill(f"place {n}")
            await page.get_by_role("button", name="Add place").click()
            if n < 2:
                await expect(page.locator("#place-message")).to_contain_text(f"Added place {n}")
        await expect(page.locator("#place-message.refused")).to_contain_text("plan", timeout=10_000)
        await page.screenshot(path=str(ARTIFACTS / "live-page-free-refusals.png"))
        await context.close()
