"""GPS103 / TK103 server-to-device commands (pure): ``**,imei:<IMEI>,<code>[,<param>...];``.

Layout: Coban "GPS102, GPS103, GPS104 GPRS data protocol" (also "TK102/TK103/... GPRS Data
Protocol", scribd 267545994), section "GPRS command sent by server": ``**,imei:<IMEI>,`` and
a command letter, ended by ``;`` (the SOS cancel ``**,imei:<IMEI>,E;`` as servers send it,
nickfox/GpsTracker#86). The device confirms a command with a report whose keyword is the
command letter in lower case plus ``t`` (``jt``, ``kt``, ``ht`` ...: captures in
eusonlito/GPS-Tracker#114), decoded as a ``Position`` with ``event`` set.

* ``B`` locate now ("single position request");
* ``C,<nn><s|m|h>`` report every interval ("multiple position request");
* ``J`` cut oil/power (confirmed ``jt``), ``K`` resume (confirmed ``kt``);
* ``H,<km/h>`` over-speed alarm (``**,imei:868166054696190,H,080``, eusonlito#114);
* ``E`` cancel the SOS alarm.
"""

from __future__ import annotations

import re

_IMEI = re.compile(r"\d{1,24}")
_TOKEN = re.compile(r"[0-9A-Za-z.]{1,32}")
SECONDS_PER_MINUTE = 60
SECONDS_PER_HOUR = 3600
#: the two-digit count of the ``C`` interval
MAX_COUNT = 99


def encode_command(imei: str, code: str, *params: str | int) -> bytes:
    """``**,imei:<imei>,<code>[,<param>...];`` as ASCII bytes (``ValueError`` on bad parts)."""
    if _IMEI.fullmatch(imei) is None:
        raise ValueError(f"bad IMEI for a TK103 command: {imei!r}")
    parts = [code, *(str(p) for p in params)]
    for part in parts:
        if _TOKEN.fullmatch(part) is None:
            raise ValueError(f"bad TK103 command part: {part!r}")
    return ("**,imei:" + imei + "," + ",".join(parts) + ";").encode("ascii")


def locate_now(imei: str) -> bytes:
    return encode_command(imei, "B")


def interval_text(seconds: int) -> str:
    """``nn`` + unit: seconds below a minute, whole minutes below an hour, else whole hours."""
    if 1 <= seconds < SECONDS_PER_MINUTE:
        return f"{seconds:02d}s"
    if seconds < SECONDS_PER_HOUR and seconds % SECONDS_PER_MINUTE == 0:
        return f"{seconds // SECONDS_PER_MINUTE:02d}m"
    if seconds % SECONDS_PER_HOUR == 0 and seconds // SECONDS_PER_HOUR <= MAX_COUNT:
        return f"{seconds // SECONDS_PER_HOUR:02d}h"
    raise ValueError(f"interval not expressible as nn s/m/h: {seconds}")


def set_interval(imei: str, seconds: int) -> bytes:
    return encode_command(imei, "C", interval_text(seconds))


def engine_stop(imei: str) -> bytes:
    return encode_command(imei, "J")


def engine_resume(imei: str) -> bytes:
    return encode_command(imei, "K")


def set_overspeed(imei: str, kmh: int) -> bytes:
    if not 1 <= kmh <= 999:
        raise ValueError(f"speed limit out of range: {kmh}")
    return encode_command(imei, "H", f"{kmh:03d}")


def cancel_sos(imei: str) -> bytes:
    return encode_command(imei, "E")
