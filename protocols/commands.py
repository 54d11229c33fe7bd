"""Commands to devices: (protocol, command name) -> the bytes to send, and which of a device's
messages answer a command (pure: no I/O).

One table, ``ENCODERS``, maps each protocol's supported command names to an encoder; the
gateway looks a command up here and never branches on the protocol itself. The encoders are
the protocol modules' own (``gt06.encode_command``, ``teltonika.encode_codec12_command``,
``h02``/``tk103``/``watch`` text commands); each is handed a ``Target`` (what the connection
knows: the device's id, the transport, the time, a serial number, the watch's vendor code)
and the command's argument (interval seconds, or the raw command text for ``raw``).

Names (the same for every family; a family supports those its devices have):

* ``locate``        report the position now (OwnTracks ``reportLocation``)
* ``interval``      report every ``argument`` seconds
* ``reboot``        restart the device
* ``engine_stop`` / ``engine_resume``   cut / restore fuel or power (tags with a relay)
* ``find``          ring the watch
* ``raw``           ``argument`` is the protocol's command text, framed by the protocol's
  encoder (a GT06 SMS command, a Teltonika SMS/GPRS command, ``D1,60,1`` for H02, ``C,30s``
  for TK103, ``UPLOAD,60`` for a watch): what the encoder would refuse is refused here too.

A bad argument or a name the protocol does not support raises ``CommandRefused`` (a
``ValueError``: our caller's mistake, never the device's).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

from . import gt06, h02, teltonika, tk103, watch
from .base import Transport
from .gt06 import _encoder as gt06_text
from .model import AttributeValue, DeviceInfo, Message, Position
from .teltonika import _encoder as teltonika_text

#: every command name any protocol supports, in the order the CLI lists them
NAMES = ("locate", "interval", "reboot", "engine_stop", "engine_resume", "find", "raw")

#: the watch vendor code used before the watch has said its own (``3G`` is the common one)
DEFAULT_VENDOR = "3G"


class CommandRefused(ValueError):
    """A command this protocol cannot send (unknown name, missing or bad argument)."""


@dataclass(frozen=True, slots=True)
class Target:
    """What an encoder may use of the device and its connection."""

    device_key: str
    transport: Transport
    now: datetime
    #: a number the connection counts up per command (GT06 serial, Teltonika UDP packet id)
    serial: int = 1
    #: values the protocol session remembers (the watch's vendor code ...)
    session: Mapping[str, object] | None = None


Encoder: TypeAlias = Callable[[Target, str | None], bytes]


def _seconds(argument: str | None) -> int:
    if argument is None or not argument.isascii() or not argument.isdigit():
        raise CommandRefused(f"interval needs a number of seconds, got {argument!r}")
    return int(argument)


def _text(argument: str | None) -> str:
    if not argument:
        raise CommandRefused("raw needs the command text")
    return argument


def _parts(argument: str | None) -> list[str]:
    return _text(argument).split(",")


def _vendor(target: Target) -> str:
    vendor = (target.session or {}).get("vendor")
    return vendor if isinstance(vendor, str) else DEFAULT_VENDOR


def _gt06(text: Callable[[str | None], str]) -> Encoder:
    return lambda t, arg: gt06.encode_command(text(arg), t.serial & 0xFFFF, server_flag=t.serial)


def _teltonika(text: Callable[[str | None], str]) -> Encoder:
    def encode(target: Target, argument: str | None) -> bytes:
        command = text(argument)
        if target.transport == "udp":
            return teltonika.encode_codec12_udp_command(
                target.device_key, command, target.serial & 0xFFFF
            )
        return teltonika.encode_codec12_command(command)

    return encode


def _h02_raw(target: Target, argument: str | None) -> bytes:
    name, *params = _parts(argument)
    return h02.encode_command(target.device_key, name, *params, at=target.now)


def _tk103_raw(target: Target, argument: str | None) -> bytes:
    code, *params = _parts(argument)
    return tk103.encode_command(target.device_key, code, *params)


#: what OwnTracks publishes to ``owntracks/<user>/<device>/cmd`` (booklet, "Remote commands")
OWNTRACKS_REPORT_LOCATION = json.dumps(
    {"_type": "cmd", "action": "reportLocation"}, separators=(",", ":")
).encode()

ENCODERS: Mapping[str, Mapping[str, Encoder]] = {
    "gt06": {
        "locate": _gt06(lambda _: gt06_text.locate_command()),
        "interval": _gt06(lambda a: gt06_text.interval_command(_seconds(a))),
        "reboot": _gt06(lambda _: gt06_text.reboot_command()),
        "engine_stop": _gt06(lambda _: gt06_text.engine_command(True)),
        "engine_resume": _gt06(lambda _: gt06_text.engine_command(False)),
        "raw": _gt06(_text),
    },
    "teltonika": {
        "locate": _teltonika(lambda _: teltonika_text.locate_command()),
        "interval": _teltonika(lambda a: teltonika_text.interval_command(_seconds(a))),
        "reboot": _teltonika(lambda _: teltonika_text.reboot_command()),
        "engine_stop": _teltonika(lambda _: teltonika_text.engine_command(True)),
        "engine_resume": _teltonika(lambda _: teltonika_text.engine_command(False)),
        "raw": _teltonika(_text),
    },
    "h02": {
        # locate CR (HuaSunTeK V1.0.5 §四.2), reboot R1 (ST-901 "Cold Start Command R1")
        "locate": lambda t, _: h02.locate_now(t.device_key),
        "interval": lambda t, a: h02.set_interval(t.device_key, _seconds(a), at=t.now),
        "reboot": lambda t, _: h02.reboot(t.device_key, at=t.now),
        "engine_stop": lambda t, _: h02.engine_stop(t.device_key, at=t.now),
        "engine_resume": lambda t, _: h02.engine_resume(t.device_key, at=t.now),
        "raw": _h02_raw,
    },
    "tk103": {
        "locate": lambda t, _: tk103.locate_now(t.device_key),
        "interval": lambda t, a: tk103.set_interval(t.device_key, _seconds(a)),
        "engine_stop": lambda t, _: tk103.engine_stop(t.device_key),
        "engine_resume": lambda t, _: tk103.engine_resume(t.device_key),
        "raw": _tk103_raw,
    },
    "watch": {
        "locate": lambda t, _: watch.locate_now(_vendor(t), t.device_key),
        "interval": lambda t, a: watch.set_interval(_vendor(t), t.device_key, _seconds(a)),
        "reboot": lambda t, _: watch.reboot(_vendor(t), t.device_key),
        "find": lambda t, _: watch.find(_vendor(t), t.device_key),
        "raw": lambda t, a: watch.encode_command(_vendor(t), t.device_key, _text(a)),
    },
    "owntracks": {
        "locate": lambda t, _: OWNTRACKS_REPORT_LOCATION,
    },
}


def supported(protocol: str) -> tuple[str, ...]:
    """The command names ``protocol`` supports (empty: none), in ``NAMES`` order."""
    table = ENCODERS.get(protocol, {})
    return tuple(name for name in NAMES if name in table)


def encode(protocol: str, name: str, argument: str | None, target: Target) -> bytes:
    """The bytes of command ``name`` for this device; ``CommandRefused`` when it cannot be."""
    encoder = ENCODERS.get(protocol, {}).get(name)
    if encoder is None:
        names = ", ".join(supported(protocol)) or "none"
        raise CommandRefused(f"{protocol} does not support {name!r} (supported: {names})")
    try:
        return encoder(target, argument)
    except CommandRefused:
        raise
    except ValueError as exc:
        raise CommandRefused(str(exc)) from None


def command_topic(device_key: str) -> str:
    """Where an OwnTracks phone reads its commands: ``owntracks/<user>/<device>/cmd``."""
    return f"owntracks/{device_key}/cmd"


#: the OwnTracks trigger of a location sent in answer to ``reportLocation`` (booklet: ``t``
#: "r" = response to a "reportLocation" command)
OWNTRACKS_RESPONSE_TRIGGER = "r"


def response(message: Message) -> dict[str, AttributeValue] | None:
    """What the device said, if ``message`` answers a command (else None).

    A ``DeviceInfo(kind="command_reply")`` (GT06 0x15/0x21, Teltonika codec 12/13/14, H02
    V4, a watch's echo); a TK103 report carrying a confirmation ``event`` (``jt``, ``kt``
    ...); an OwnTracks location with trigger ``r``.
    """
    if isinstance(message, DeviceInfo):
        if message.kind == "command_reply":
            return dict(message.attributes)
        if message.protocol == "tk103" and "event" in message.attributes:
            return dict(message.attributes)
        return None
    if isinstance(message, Position):
        attributes = message.attributes
        if message.protocol == "tk103" and "event" in attributes:
            return {"event": attributes["event"]}
        if message.protocol == "owntracks" and attributes.get("t") == OWNTRACKS_RESPONSE_TRIGGER:
            return {"t": "r", "lat": message.lat, "lon": message.lon}
    return None
