"""A small Server-Sent Events reader for the live stream tests (aiohttp, loopback only)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import aiohttp


@dataclass(frozen=True)
class Event:
    id: str
    kind: str
    data: Any


class SseReader:
    """``GET`` a stream and parse its events; ``next()`` waits for the next one."""

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self.resp = resp
        self.status = resp.status

    @classmethod
    async def open(
        cls,
        http: aiohttp.ClientSession,
        url: str,
        token: str | None = None,
        last_event_id: str | None = None,
    ) -> SseReader:
        headers = {"Accept": "text/event-stream"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        resp = await http.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=None))
        return cls(resp)

    async def next(self, within: float = 15.0) -> Event:
        fields: dict[str, str] = {}
        data: list[str] = []
        async with asyncio.timeout(within):
            while True:
                try:
                    raw = await self.resp.content.readline()
                except aiohttp.ClientPayloadError as exc:  # cut mid-chunk: ended all the same
                    raise EOFError("the stream was cut") from exc
                if not raw:
                    raise EOFError("the stream ended")
                line = raw.decode().rstrip("\n")
                if line == "":
                    if data:
                        return Event(
                            fields.get("id", ""),
                            fields.get("event", "message"),
                            json.loads("\n".join(data)),
                        )
                    fields.clear()
                    continue
                if line.startswith(":"):
                    continue  # a comment (keepalive)
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "data":
                    data.append(value)
                else:
                    fields[name] = value

    async def until(self, kind: str, within: float = 15.0, **match: Any) -> Event:
        """The next event of ``kind`` whose data has the ``match`` items, skipping others."""
        async with asyncio.timeout(within):
            while True:
                event = await self.next(within)
                if event.kind == kind and all(event.data.get(k) == v for k, v in match.items()):
                    return event

    def close(self) -> None:
        self.resp.close()
