"""Watch server-to-device commands (pure): ``[<vendor>*<id>*<LEN>*<content>]``.

Source: "Beesure GPS SeTracker Server Protocol", 4P-Touch, "PART II. Server send command"
(https://www.4p-touch.com/beesure-gps-setracker-server-protocol.html): the same framing as
the device's messages, LEN the content length in four hex digits, the vendor the device
uses (``3G``, ``SG``, ``CS`` ...). The device answers with the command name alone
(``[3G*8800000015*0002*CR]``), decoded as ``DeviceInfo(kind="command_reply")``.

* ``CR`` locate now (GPS on, positions every few seconds for a few minutes);
* ``UPLOAD,<seconds>`` report interval;
* ``RESET`` reboot; ``POWEROFF`` switch off; ``FIND`` ring the watch;
* ``hrtstart,<seconds>`` measure the heart rate (0: once).
"""

from __future__ import annotations

import re

from ._decoder import encode_reply

_VENDOR = re.compile(r"[0-9A-Za-z]{2}")
_ID = re.compile(r"[0-9A-Za-z]{1,20}")
#: content characters a command may carry (no frame delimiters ``[`` ``]`` ``*``)
_CONTENT = re.compile(r"[0-9A-Za-z,._:-]{1,512}")
MAX_INTERVAL_S = 86_400


def encode_command(vendor: str, device_id: str, content: str) -> bytes:
    """One command frame; ``ValueError`` when a part would break the framing."""
    if _VENDOR.fullmatch(vendor) is None or _ID.fullmatch(device_id) is None:
        raise ValueError(f"bad watch vendor/id: {vendor!r} {device_id!r}")
    if _CONTENT.fullmatch(content) is None:
        raise ValueError(f"bad watch command content: {content!r}")
    return encode_reply(vendor, device_id, content)


def locate_now(vendor: str, device_id: str) -> bytes:
    return encode_command(vendor, device_id, "CR")


def set_interval(vendor: str, device_id: str, seconds: int) -> bytes:
    if not 10 <= seconds <= MAX_INTERVAL_S:
        raise ValueError(f"interval out of range: {seconds}")
    return encode_command(vendor, device_id, f"UPLOAD,{seconds}")


def reboot(vendor: str, device_id: str) -> bytes:
    return encode_command(vendor, device_id, "RESET")


def power_off(vendor: str, device_id: str) -> bytes:
    return encode_command(vendor, device_id, "POWEROFF")


def find(vendor: str, device_id: str) -> bytes:
    return encode_command(vendor, device_id, "FIND")


def measure_heart_rate(vendor: str, device_id: str, every_s: int = 0) -> bytes:
    if not 0 <= every_s <= MAX_INTERVAL_S:
        raise ValueError(f"interval out of range: {every_s}")
    return encode_command(vendor, device_id, f"hrtstart,{every_s}")
