"""``trackgw decode``: feed hex or text inputs to one protocol session, print JSON lines.

    trackgw decode --protocol NAME [--device ID] [--transport tcp|udp]
                   (--hex HEX | --text TEXT)...

Inputs go, in order, to ONE session (a login frame identifies the device for later ones).
Each message prints as one JSON object with ``"input"`` (0-based index of the input that
produced it). Bytes left at the end that are not a whole frame (a text frame given without its
``#``/``;``/``]``) print as an ``"Incomplete"`` error. Exit 0 when every input decoded, 1 when
any was rejected or incomplete, 2 on usage errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from protocols import registry
from protocols.detect import AutoSession
from protocols.model import DeviceEvent, DeviceInfo, Heartbeat, Login, Message, Position, Reply

#: names accepted by --protocol: the registry's, their aliases (``msgpack``), and ``auto``
_CHOICES = (*registry.cli_names(), "auto")
_DEFAULT_TRANSPORTS = ("tcp", "http", "mqtt")


class _Input(argparse.Action):
    """Collects --hex and --text in the order given."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        items = list(getattr(namespace, "inputs", None) or [])
        items.append((self.dest, values))
        namespace.inputs = items


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("decode", help="decode captured frames and print JSON lines")
    parser.add_argument("--protocol", required=True, choices=_CHOICES)
    parser.add_argument("--device", help="preset device identity (IMEI, phone id)")
    parser.add_argument("--transport", choices=("tcp", "udp"))
    parser.add_argument("--hex", dest="hex", action=_Input, help="input as hex")
    parser.add_argument("--text", dest="text", action=_Input, help="input as text (UTF-8)")
    parser.set_defaults(func=run, inputs=None)


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _position(p: Position) -> dict[str, Any]:
    return {
        "type": "position",
        "device": p.device_key,
        "fix_time": _time(p.fix_time),
        "lat": p.lat,
        "lon": p.lon,
        "valid": p.valid,
        "speed_kmh": p.speed_kmh,
        "course_deg": p.course_deg,
        "altitude_m": p.altitude_m,
        "accuracy_m": p.accuracy_m,
        "satellites": p.satellites,
        "attributes": dict(p.attributes),
    }


def to_json(message: Message) -> dict[str, Any]:
    """The JSON object printed for one message (without ``input``)."""
    if isinstance(message, Position):
        return _position(message)
    if isinstance(message, Reply):
        return {"type": "reply", "hex": message.data.hex(), "acks_data": message.acks_data}
    if isinstance(message, DeviceEvent):
        return {
            "type": "alarm",
            "kind": message.kind,
            "device": message.device_key,
            "time": _time(message.time),
            "position": None if message.position is None else _position(message.position),
            "attributes": dict(message.attributes),
        }
    if isinstance(message, Login | Heartbeat):
        kind = "login" if isinstance(message, Login) else "heartbeat"
        return {"type": kind, "device": message.device_key, "attributes": dict(message.attributes)}
    if isinstance(message, DeviceInfo):
        return {
            "type": "info",
            "kind": message.kind,
            "device": message.device_key,
            "time": _time(message.time),
            "attributes": dict(message.attributes),
        }
    error = message.error
    detail = getattr(error, "message", str(error))
    return {
        "type": "error",
        "error": type(error).__name__,
        "detail": detail,
        "fatal": message.fatal,
    }


def run(args: argparse.Namespace) -> int:
    inputs: list[tuple[str, str]] = args.inputs or []
    if not inputs:
        print("trackgw decode: give at least one --hex or --text input", file=sys.stderr)
        return 2
    datas: list[bytes] = []
    for kind, value in inputs:
        if kind == "hex":
            try:
                datas.append(bytes.fromhex(value.replace(":", "")))
            except ValueError:
                print(f"trackgw decode: bad hex {value!r}", file=sys.stderr)
                return 2
        else:
            datas.append(value.encode("utf-8"))
    session: Any
    if args.protocol == "auto":
        session = AutoSession(args.device)
    else:
        try:
            spec = registry.lookup(args.protocol)
        except KeyError as exc:
            print(f"trackgw decode: {exc.args[0]}", file=sys.stderr)
            return 2
        transport = args.transport or next(
            (t for t in _DEFAULT_TRANSPORTS if t in spec.transports), None
        )
        if transport is None or transport not in spec.transports:
            print(f"trackgw decode: {spec.name} does not run over {transport}", file=sys.stderr)
            return 2
        session = spec.new_session(transport, args.device)
    code = 0
    for index, data in enumerate(datas):
        for message in session.receive(data):
            line = {"input": index, **to_json(message)}
            if line["type"] == "error":
                code = 1
            print(json.dumps(line, default=str))
    left = session.buffered
    if left:  # a frame cut short (no terminator, LEN not reached): say so, never silence
        incomplete = {
            "input": len(datas) - 1,
            "type": "error",
            "error": "Incomplete",
            "detail": f"{left} bytes at the end of the input are not a whole frame "
            "(missing terminator or shorter than its length)",
            "fatal": False,
        }
        print(json.dumps(incomplete))
        code = 1
    return code
