"""A small client of the member API for the tests: sign up, sign in, call with a token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

from .. import services

PROBLEM = "urn:trackgw:problem:"


@dataclass
class Reply:
    status: int
    body: Any
    headers: Any

    @property
    def problem(self) -> str:
        """The problem slug (after ``urn:trackgw:problem:``) of an error reply."""
        assert isinstance(self.body, dict), self.body
        assert "type" in self.body, self.body
        return str(self.body["type"]).removeprefix(PROBLEM)


class Api:
    def __init__(self, http: aiohttp.ClientSession, port: int) -> None:
        self.http = http
        self.base = f"http://127.0.0.1:{port}"

    async def call(
        self, method: str, path: str, token: str | None = None, json: Any = None, **kw: Any
    ) -> Reply:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.http.request(
            method, self.base + path, json=json, headers=headers, **kw
        ) as resp:
            text = await resp.text()
            ctype = resp.headers.get("Content-Type", "")
            body: Any = text
            if "json" in ctype and text:
                body = await resp.json(content_type=None)
                if resp.status >= 400:
                    assert ctype.startswith("application/problem+json"), ctype
            return Reply(resp.status, body, resp.headers)

    async def member(self, name: str = "m") -> tuple[str, str]:
        """A new account and a token for it: (account id, token)."""
        email = f"{services.unique(name)}@example.org"
        r = await self.call(
            "POST", "/v1/accounts", json={"email": email, "password": "pw-" + email, "name": name}
        )
        assert r.status == 201, r.body
        t = await self.call("POST", "/v1/tokens", json={"email": email, "password": "pw-" + email})
        assert t.status == 201, t.body
        return r.body["id"], t.body["token"]

    async def circle(self, token: str, name: str = "family") -> str:
        r = await self.call("POST", "/v1/circles", token, json={"name": name})
        assert r.status == 201, r.body
        return str(r.body["id"])

    async def join(self, owner_token: str, circle: str, token: str) -> None:
        invite = await self.call("POST", f"/v1/circles/{circle}/invites", owner_token)
        assert invite.status == 201, invite.body
        joined = await self.call("POST", f"/v1/invites/{invite.body['code']}", token)
        assert joined.status == 200, joined.body

    async def device(self, token: str, protocol: str, unique_id: str) -> int:
        r = await self.call(
            "POST", "/v1/devices", token, json={"protocol": protocol, "unique_id": unique_id}
        )
        assert r.status == 201, r.body
        return int(r.body["id"])
