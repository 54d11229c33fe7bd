"""The Mosquitto dynamic security plugin's control API, spoken over MQTT as its admin.

Commands are JSON published to ``$CONTROL/dynamic-security/v1``; the plugin answers on
``.../response`` with one response per command (an ``error`` string when it failed), in the
order sent. Each batch carries a correlation id in its first command, so concurrent batches
are told apart. Batches are cut below the broker's ``max_packet_size`` (64 KiB here).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import aiomqtt

log = logging.getLogger(__name__)

TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = f"{TOPIC}/response"
#: bytes of JSON per batch: below the broker's max_packet_size (deploy/mosquitto)
MAX_BATCH_BYTES = 48_000
#: how long one batch may wait for its response
TIMEOUT_S = 10.0

Command = Mapping[str, Any]


class DynsecError(Exception):
    """The plugin refused a command (its error text), or did not answer."""


class Dynsec:
    """One admin connection to the plugin. Use as ``async with Dynsec.connect(...) as ds``."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self._client = client
        self._waiting: dict[str, asyncio.Future[list[dict[str, Any]]]] = {}
        self._ids = itertools.count(1)

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(
        cls, host: str, port: int, username: str, password: str, identifier: str
    ) -> AsyncIterator[Dynsec]:
        async with aiomqtt.Client(
            host, port, username=username, password=password, identifier=identifier
        ) as client:
            ds = cls(client)
            await client.subscribe(RESPONSE_TOPIC, qos=1)
            reader = asyncio.create_task(ds._read(), name="dynsec-responses")
            try:
                yield ds
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await reader
                for future in ds._waiting.values():
                    if not future.done():
                        future.set_exception(DynsecError("admin connection closed"))

    async def _read(self) -> None:
        async for message in self._client.messages:
            try:
                responses = json.loads(bytes(message.payload))["responses"]
            except (ValueError, KeyError, TypeError):
                log.warning("unreadable dynamic security response ignored")
                continue
            key = next(
                (r.get("correlationData") for r in responses if "correlationData" in r), None
            )
            future = self._waiting.pop(str(key), None) if key is not None else None
            if future is not None and not future.done():
                future.set_result(responses)

    async def run(self, commands: Sequence[Command]) -> list[dict[str, Any]]:
        """Send the commands (in batches); one response each, in order. Refusals are in the
        responses' ``error``; a missing answer raises ``DynsecError``."""
        out: list[dict[str, Any]] = []
        for batch in _batches(commands):
            out.extend(await self._send(batch))
        return out

    async def check(self, commands: Sequence[Command], ignore: tuple[str, ...] = ()) -> None:
        """Send the commands; raise ``DynsecError`` for a refusal not in ``ignore``."""
        for command, response in zip(commands, await self.run(commands), strict=True):
            error = response.get("error")
            if error and not any(text in error for text in ignore):
                raise DynsecError(f"{command['command']}: {error}")

    async def one(self, command: Command) -> dict[str, Any]:
        """One command's ``data``; its refusal raises ``DynsecError``."""
        (response,) = await self.run([command])
        if response.get("error"):
            raise DynsecError(f"{command['command']}: {response['error']}")
        data = response.get("data", {})
        return data if isinstance(data, dict) else {}

    async def _send(self, batch: list[Command]) -> list[dict[str, Any]]:
        key = str(next(self._ids))
        first = {**batch[0], "correlationData": key}
        future: asyncio.Future[list[dict[str, Any]]] = asyncio.get_running_loop().create_future()
        self._waiting[key] = future
        payload = json.dumps({"commands": [first, *batch[1:]]}, separators=(",", ":"))
        try:
            await self._client.publish(TOPIC, payload, qos=1)
            responses = await asyncio.wait_for(future, TIMEOUT_S)
        except TimeoutError:
            raise DynsecError("the dynamic security plugin did not answer") from None
        finally:
            self._waiting.pop(key, None)
        if len(responses) != len(batch):
            raise DynsecError(f"{len(responses)} responses to {len(batch)} commands")
        return responses


def _batches(commands: Sequence[Command]) -> list[list[Command]]:
    batches: list[list[Command]] = []
    size = 0
    for command in commands:
        n = len(json.dumps(command, separators=(",", ":"))) + 1
        if not batches or size + n > MAX_BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(command)
        size += n
    return batches
