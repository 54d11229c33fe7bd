"""H02 server-to-device commands (pure): ``*<maker>,<id>,<CMD>,<hhmmss>[,<param>...]#``.

Layout: the H02 "Protocol" document of the SinoTrack ST-901/901M/902/904/905/915/925/906/907
family (scribd 470158848; "ST-901 document" below) §2 "The Command Structure from Center
Sending": ``*XX,YYYYYYYYYY,CMD,HHMMSS,PARA1,PARA2,…#`` — ``XX`` the maker letters the
device checks (``HQ``), the device id, the command mark, the time ``hhmmss``, the
parameters; capitals, no blanks. The device confirms with a ``V4,<CMD>,...`` frame (decoded
as ``DeviceInfo(kind="command_reply")``). "GPS Tracker Platform Communication Protocol
V1.0.5" (Shenzhen HuaSunTeK, 2017; "HuaSunTeK document" below) §四 uses the same frame,
some commands without the time.

Commands and their parameters, with the evidence for each:

* ``D1,<hhmmss>,<seconds>,1`` report interval: captured server command ``D1,075244,60,1`` and
  the device's ``V4,D1,60,...`` confirmation (traccar.org forum topic "Parsing Issue H02
  protocol", 2020-10-14); ``S71,22,<seconds>`` is the interval command of other firmwares.
  (The ST-901 document reads ``D1,<hhmmss>,<interval>,<count>`` as ``count`` reports, one
  at once; with count 1 a single report: on those firmwares this sets no period.)
* ``S20,<hhmmss>,1,1`` cut fuel/power (engine stop), ``S20,<hhmmss>,1,0`` restore: HuaSunTeK
  document §四.1 (``*HQ,0000000000,S20,130305,1,1#`` and ``...,1,0#``: C = 1 static cut,
  T = 1 cut / 0 recover); the ST-901 document's S20 takes the same first two values.
* ``CR`` locate now, ``*HQ,<id>,CR#`` without a time: HuaSunTeK document §四.2 ("device will
  upload one location data immediately", answered ``*HQ,<id>,V4,CR#``).
* ``R1,<hhmmss>`` restart: the ST-901 document's "Cold Start Command R1"
  (``*TH,000000,R1,130305#``: a cold start that clears the alarms, keeps the settings and
  sends no answer).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

MAKER = "HQ"
_TOKEN = re.compile(r"[0-9A-Za-z.]{1,32}")


def _check(value: str, what: str) -> str:
    if _TOKEN.fullmatch(value) is None:
        raise ValueError(f"bad H02 command {what}: {value!r}")
    return value


def _frame(maker: str, device_id: str, command: str, parts: list[str]) -> bytes:
    head = [_check(maker, "maker"), _check(device_id, "device id"), _check(command, "name")]
    return ("*" + ",".join([*head, *parts]) + "#").encode("ascii")


def encode_command(
    device_id: str, command: str, *params: str | int, at: datetime, maker: str = MAKER
) -> bytes:
    """``*<maker>,<id>,<command>,<hhmmss of at, UTC>[,<param>...]#`` as ASCII bytes.

    Every part must be 1-32 letters, digits or ``.`` (no ``,``, ``#`` or ``*``, which would
    change the frame): our misuse raises ``ValueError``.
    """
    if at.tzinfo is None:
        raise ValueError("at must be an aware datetime")
    parts = [at.astimezone(UTC).strftime("%H%M%S"), *(_check(str(p), "parameter") for p in params)]
    return _frame(maker, device_id, command, parts)


def set_interval(device_id: str, seconds: int, *, at: datetime) -> bytes:
    """Report every ``seconds`` (``D1``)."""
    if not 1 <= seconds <= 65535:
        raise ValueError(f"interval out of range: {seconds}")
    return encode_command(device_id, "D1", seconds, 1, at=at)


def engine_stop(device_id: str, *, at: datetime) -> bytes:
    """Cut fuel/power (``S20,1,1``: HuaSunTeK document §四.1, static cut)."""
    return encode_command(device_id, "S20", 1, 1, at=at)


def engine_resume(device_id: str, *, at: datetime) -> bytes:
    """Restore fuel/power (``S20,1,0``: HuaSunTeK document §四.1, recover)."""
    return encode_command(device_id, "S20", 1, 0, at=at)


def locate_now(device_id: str, *, maker: str = MAKER) -> bytes:
    """Report the position now: ``*HQ,<id>,CR#`` (HuaSunTeK document §四.2, no time field;
    the device answers ``*HQ,<id>,V4,CR#`` and sends one position)."""
    return _frame(maker, device_id, "CR", [])


def reboot(device_id: str, *, at: datetime) -> bytes:
    """Restart (cold start): ``*HQ,<id>,R1,<hhmmss>#`` (ST-901 document, "Cold Start Command
    R1"; the device sends no answer)."""
    return encode_command(device_id, "R1", at=at)
