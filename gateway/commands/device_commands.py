"""``trackgw commands send|list``: commands to devices (docs/protocols.md, "Commands").

``send`` queues a command for a running gateway to deliver (it is written when the device is
connected, and expires if the device does not connect in time); with ``--wait S`` it waits up
to S seconds for the device's answer and exits 0 when answered, 1 when the command expired or
failed or no answer came in time (the command's last state is printed either way).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import psycopg

from protocols import commands as codec

from ..device_commands import expiry, validate
from ..store import commands as store
from ._common import CommandError, print_json, run, settings

#: how often ``--wait`` looks at the command
POLL_S = 0.2
FINAL = frozenset({"answered", "expired", "failed"})


async def _connect(args: argparse.Namespace) -> psycopg.AsyncConnection[Any]:
    url = settings(args).database.url
    try:
        return await psycopg.AsyncConnection.connect(url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise CommandError(f"cannot reach the database at {url}: {str(exc).strip()}") from exc


async def _device_id(conn: psycopg.AsyncConnection[Any], ref: str) -> int:
    """A database id, or a device's own id (IMEI, user/device)."""
    found = await store.device_by_unique_id(conn, ref)
    if found is None and ref.isdigit() and len(ref) <= 18:
        found = int(ref) if await store.device(conn, int(ref)) is not None else None
    if found is None:
        raise CommandError(f"no device {ref!r}")
    return found


async def _send(args: argparse.Namespace) -> int:
    argument = args.argument
    if args.command_name == "interval" and argument is None:
        raise CommandError("interval needs --seconds", 2)
    try:
        expires_at = expiry(settings(args).commands, args.expires_in)
    except ValueError as exc:
        raise CommandError(str(exc), 2) from exc
    async with await _connect(args) as conn:
        device_id = await _device_id(conn, args.device)
        found = await store.device(conn, device_id)
        assert found is not None
        try:
            validate(found[0], found[1], args.command_name, argument)
        except codec.CommandRefused as exc:
            raise CommandError(str(exc), 2) from exc
        command = await store.queue(conn, device_id, args.command_name, argument, "cli", expires_at)
        if args.wait is None:
            print_json(command.to_json())
            return 0
        deadline = time.monotonic() + args.wait
        while command.state not in FINAL and time.monotonic() < deadline:
            await asyncio.sleep(POLL_S)
            latest = await store.get(conn, command.id)
            if latest is None:  # the device was deleted meanwhile
                raise CommandError(f"command {command.id} is gone")
            command = latest
    print_json(command.to_json())
    return 0 if command.state == "answered" else 1


async def _list(args: argparse.Namespace) -> int:
    async with await _connect(args) as conn:
        device_id = None if args.device is None else await _device_id(conn, args.device)
        for command in await store.listed(
            conn, device_id=device_id, state=args.state, limit=args.limit
        ):
            print_json(command.to_json())
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("commands", help="send commands to devices and see their answers")
    csub = parser.add_subparsers(dest="commands_command", metavar="ACTION", required=True)
    send = csub.add_parser("send", help="queue a command (delivered when the device connects)")
    send.add_argument("--device", required=True, help="device id, or its own id (IMEI ...)")
    send.add_argument(
        "--command", dest="command_name", required=True, choices=codec.NAMES, help="what to do"
    )
    send.add_argument(
        "--seconds", dest="argument", metavar="S", help="the reporting interval (interval)"
    )
    send.add_argument(
        "--text", dest="argument", metavar="TEXT", help="the protocol's command text (raw)"
    )
    send.add_argument(
        "--expires-in", type=int, metavar="S", help="expire if not delivered within S seconds"
    )
    send.add_argument(
        "--wait", type=float, metavar="S", help="wait up to S seconds for the device's answer"
    )
    send.set_defaults(func=run(lambda a: asyncio.run(_send(a))))
    listing = csub.add_parser("list", help="commands, newest first")
    listing.add_argument("--device", help="only this device's (id or its own id)")
    listing.add_argument("--state", choices=store.STATES)
    listing.add_argument("--limit", type=int, default=100)
    listing.set_defaults(func=run(lambda a: asyncio.run(_list(a))))
