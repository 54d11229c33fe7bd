"""H02 server-to-device commands (pure): ``*<maker>,<id>,<CMD>,<hhmmss>[,<param>...]#``.

Layout: H02 "Protocol" document (scribd 470158848) §2 "The Command Structure from Center
Sending": ``*XX,YYYYYYYYYY,CMD,HHMMSS,PARA1,PARA2,…#`` — ``XX`` the maker letters the
device checks (``HQ``), the device id, the command mark, the server's time ``hhmmss``, the
parameters; capitals, no blanks. The device confirms with a ``V4,<CMD>,...`` frame (decoded
as ``DeviceInfo(kind="command_reply")``).

Commands and their parameters, with the evidence for each:

* ``D1,<hhmmss>,<seconds>,1`` report interval: captured server command ``D1,075244,60,1`` and
  the device's ``V4,D1,60,...`` confirmation (traccar.org forum topic "Parsing Issue H02
  protocol", 2020-10-14); ``S71,22,<seconds>`` is the interval command of other firmwares.
* ``S20,<hhmmss>,1,1`` cut fuel/power (engine stop), ``S20,<hhmmss>,1,0`` restore: the
  parameters as used by the traccar H02 encoder (facts only); no document example was found.
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


def encode_command(
    device_id: str, command: str, *params: str | int, at: datetime, maker: str = MAKER
) -> bytes:
    """``*<maker>,<id>,<command>,<hhmmss of at, UTC>[,<param>...]#`` as ASCII bytes.

    Every part must be 1-32 letters, digits or ``.`` (no ``,``, ``#`` or ``*``, which would
    change the frame): our misuse raises ``ValueError``.
    """
    if at.tzinfo is None:
        raise ValueError("at must be an aware datetime")
    parts = [
        _check(maker, "maker"),
        _check(device_id, "device id"),
        _check(command, "name"),
        at.astimezone(UTC).strftime("%H%M%S"),
        *(_check(str(p), "parameter") for p in params),
    ]
    return ("*" + ",".join(parts) + "#").encode("ascii")


def set_interval(device_id: str, seconds: int, *, at: datetime) -> bytes:
    """Report every ``seconds`` (``D1``)."""
    if not 1 <= seconds <= 65535:
        raise ValueError(f"interval out of range: {seconds}")
    return encode_command(device_id, "D1", seconds, 1, at=at)


def engine_stop(device_id: str, *, at: datetime) -> bytes:
    """Cut fuel/power (``S20,1,1``)."""
    return encode_command(device_id, "S20", 1, 1, at=at)


def engine_resume(device_id: str, *, at: datetime) -> bytes:
    """Restore fuel/power (``S20,1,0``)."""
    return encode_command(device_id, "S20", 1, 0, at=at)
