"""Teltonika codec ids, priorities and the few IO ids given names.

Source: Teltonika wiki, "Teltonika Data Sending Protocols" (formerly "Codec") page:
sections "Codec 8", "Codec 8 Extended", "Codec 16", "Communication with server" and
"UDP channel header"; IO ids from the FMB "AVL ID" tables of the same wiki.
"""

from __future__ import annotations

import enum

from protocols.model import AttributeValue

#: TCP AVL packet: 4 zero bytes before the data field length ("Preamble")
PREAMBLE = b"\x00\x00\x00\x00"
#: the server's answer to an accepted IMEI ("Communication with server": 0x01 accept)
IMEI_ACCEPTED = b"\x01"
#: lat/lon are int32 in 1e-7 degrees ("GPS element": "multiplied by 10000000")
COORDINATE_SCALE = 1e-7


class Codec(enum.IntEnum):
    """Codec ID byte (wiki: "Codec ID table")."""

    CODEC8 = 0x08  #: "Codec 8": 1-byte IO ids and counts
    CODEC8_EXTENDED = 0x8E  #: "Codec 8 Extended": 2-byte IO ids and counts, NX elements
    CODEC16 = 0x10  #: "Codec 16": 2-byte IO ids, 1-byte counts, generation type


class Priority(enum.IntEnum):
    """Record priority ("AVL Data": Priority)."""

    LOW = 0  #: low
    HIGH = 1  #: high
    PANIC = 2  #: panic


def _bool(raw: int) -> AttributeValue:
    return bool(raw)


def _milli(raw: int) -> AttributeValue:
    return raw / 1000.0


def _tenth(raw: int) -> AttributeValue:
    return raw / 10.0


def _same(raw: int) -> AttributeValue:
    return raw


#: well-known IO ids -> (attribute name, conversion); the raw "io<id>" is kept too
IO_NAMES: dict[int, tuple[str, object]] = {
    239: ("ignition", _bool),  #: FMB AVL ID 239 "Ignition"
    240: ("movement", _bool),  #: 240 "Movement"
    66: ("external_voltage_v", _milli),  #: 66 "External Voltage" (mV)
    67: ("battery_voltage_v", _milli),  #: 67 "Battery Voltage" (mV)
    21: ("gsm_signal", _same),  #: 21 "GSM Signal" (0-5)
    69: ("gnss_status", _same),  #: 69 "GNSS Status"
    181: ("pdop", _tenth),  #: 181 "GNSS PDOP" (x10)
    182: ("hdop", _tenth),  #: 182 "GNSS HDOP" (x10)
    16: ("odometer_m", _same),  #: 16 "Total Odometer" (m)
    113: ("battery_level_pct", _same),  #: 113 "Battery Level" (%)
    1: ("din1", _bool),  #: 1 "Digital Input 1"
}
