"""``trackgw devices add|list|secret``."""

from __future__ import annotations

import argparse
from typing import Any

from protocols import registry

from ..store import admin, credentials
from ._common import CommandError, connect, print_json, run


def protocol_name(name: str) -> str:
    """The registry name of ``name`` or of one of its aliases (``msgpack``)."""
    try:
        return registry.lookup(name).name
    except KeyError as exc:
        raise CommandError(str(exc.args[0]), 2) from None


def _add(args: argparse.Namespace) -> int:
    protocol = protocol_name(args.protocol)
    # without --account the device is its own account; an OwnTracks-style user/device id
    # is the user's (account ids may not contain '/': they appear in MQTT topics)
    account = args.account or args.id.split("/")[0]
    with connect(args) as conn:
        try:
            with conn.transaction():
                device = admin.add_device(conn, protocol, args.id, account, args.name)
                secret = (
                    None
                    if args.secret is None
                    else credentials.set_device_secret(conn, args.id, args.secret or None)
                )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
    out = device.to_json()
    if secret is not None:
        out["secret"] = secret  # shown this once: only its hash is stored
    print_json(out)
    return 0


def _secret(args: argparse.Namespace) -> int:
    with connect(args) as conn:
        try:
            secret = credentials.set_device_secret(conn, args.id, args.secret)
        except (ValueError, LookupError) as exc:
            raise CommandError(str(exc.args[0])) from exc
    print_json({"unique_id": args.id, "secret": secret})
    return 0


def _list(args: argparse.Namespace) -> int:
    with connect(args) as conn:
        for device in admin.list_devices(conn, args.account):
            print_json(device.to_json())
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("devices", help="provision and list devices")
    dsub = parser.add_subparsers(dest="devices_command", metavar="ACTION", required=True)
    add = dsub.add_parser("add", help="provision a device (creating its account if needed)")
    add.add_argument("--protocol", required=True, help="gt06, teltonika, owntracks, ...")
    add.add_argument("--id", required=True, help="the device's own id (IMEI, user/device)")
    add.add_argument("--account", help="owning account (default: the device id)")
    add.add_argument("--name", help="a display name")
    add.add_argument(
        "--secret",
        nargs="?",
        const="",
        help="give the phone an HTTP secret (OwnTracks password, Overland token, OsmAnd key):"
        " the one given (16+ characters), or a random one when no value follows; printed once",
    )
    add.set_defaults(func=run(_add))
    sec = dsub.add_parser(
        "secret", help="set a new HTTP secret for a phone (owntracks, overland, osmand)"
    )
    sec.add_argument("--id", required=True, help="the device's own id")
    sec.add_argument("--secret", help="the secret to set (default: a random one, printed once)")
    sec.set_defaults(func=run(_secret))
    lst = dsub.add_parser("list", help="list devices as JSON lines")
    lst.add_argument("--account", help="only this account's devices")
    lst.set_defaults(func=run(_list))
