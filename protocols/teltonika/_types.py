"""Teltonika codec ids, priorities and the few IO ids given names.

Source: Teltonika wiki, "Teltonika Data Sending Protocols" (formerly "Codec") page:
sections "Codec 8", "Codec 8 Extended", "Codec 16", "Codec 12", "Codec 13", "Codec 14",
"Codec 15", "Communication with server" and "UDP channel header"; IO ids from the
"FMB920 / FMB120 / FMC130 AVL ID" tables of the same wiki ("Teltonika Data Sending
Parameters ID").
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import NamedTuple

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
    CODEC12 = 0x0C  #: "Codec 12": GPRS command (server) and its response (device)
    CODEC13 = 0x0D  #: "Codec 13": device -> server message with a timestamp
    CODEC14 = 0x0E  #: "Codec 14": GPRS command addressed by IMEI, ACK/nACK response
    CODEC15 = 0x0F  #: "Codec 15": device -> server message with timestamp and IMEI (FMX6)


#: the codecs of GPRS messages (commands, responses, text) rather than AVL records
MESSAGE_CODECS = frozenset({Codec.CODEC12, Codec.CODEC13, Codec.CODEC14, Codec.CODEC15})


class MessageKind(enum.IntEnum):
    """The "Type" byte of a Codec 12/13/14/15 message (wiki, "Codec 12" ... "Codec 15")."""

    COMMAND = 0x05  #: server -> device command
    RESPONSE = 0x06  #: device -> server response (Codec 14: ACK, the IMEI matched)
    TEXT = 0x0B  #: Codec 15 device -> server message
    NACK = 0x11  #: Codec 14: the IMEI did not match, the command was not executed


class Priority(enum.IntEnum):
    """Record priority ("AVL Data": Priority)."""

    LOW = 0  #: low
    HIGH = 1  #: high
    PANIC = 2  #: panic


#: 0/1 -> False/True (the builtin itself: a C call, cheaper than a Python function)
_bool: Callable[[int], AttributeValue] = bool


def _milli(raw: int) -> AttributeValue:
    return raw / 1000.0


def _tenth(raw: int) -> AttributeValue:
    return raw / 10.0


def as_is(raw: int) -> AttributeValue:
    """The raw value unchanged (the fast path stores it without calling this)."""
    return raw


def _int16(raw: int) -> AttributeValue:
    """A signed 16-bit value sent in a 2-byte slot (accelerometer axes, mg)."""
    return raw - 0x10000 if raw & 0x8000 else raw


class IoElement(NamedTuple):
    """One named AVL IO element: the attribute it becomes and how its raw value converts."""

    name: str
    convert: Callable[[int], AttributeValue]


#: well-known IO ids -> (attribute name, conversion); the raw "io<id>" is kept too.
#: FMB920/FMB120/FMC130 "AVL ID" tables (wiki "FMB120 Teltonika Data Sending Parameters ID"
#: and the same table of the other models): id, name in the table, unit / multiplier.
IO_NAMES: dict[int, IoElement] = {
    # --- permanent I/O elements ---
    239: IoElement("ignition", _bool),  #: 239 "Ignition" (0/1)
    240: IoElement("movement", _bool),  #: 240 "Movement" (0/1)
    80: IoElement("data_mode", as_is),  #: 80 "Data Mode" (0 home on stop ... 5 unknown)
    21: IoElement("gsm_signal", as_is),  #: 21 "GSM Signal" (0-5)
    200: IoElement("sleep_mode", as_is),  #: 200 "Sleep Mode" (0 none, 1 GPS, 2 deep ...)
    69: IoElement("gnss_status", as_is),  #: 69 "GNSS Status" (0 off ... 3 on with fix)
    181: IoElement("pdop", _tenth),  #: 181 "GNSS PDOP" (x 0.1)
    182: IoElement("hdop", _tenth),  #: 182 "GNSS HDOP" (x 0.1)
    66: IoElement("external_voltage_v", _milli),  #: 66 "External Voltage" (mV)
    24: IoElement("speed_kmh", as_is),  #: 24 "Speed" (km/h)
    205: IoElement("gsm_cell_id", as_is),  #: 205 "GSM Cell ID"
    206: IoElement("gsm_area_code", as_is),  #: 206 "GSM Area Code"
    67: IoElement("battery_voltage_v", _milli),  #: 67 "Battery Voltage" (mV)
    68: IoElement("battery_current_a", _milli),  #: 68 "Battery Current" (mA)
    241: IoElement("gsm_operator", as_is),  #: 241 "Active GSM Operator" (MCC+MNC)
    199: IoElement("trip_odometer_m", as_is),  #: 199 "Trip Odometer" (m)
    16: IoElement("odometer_m", as_is),  #: 16 "Total Odometer" (m)
    1: IoElement("din1", _bool),  #: 1 "Digital Input 1"
    2: IoElement("din2", _bool),  #: 2 "Digital Input 2" (FMB120/FMC130)
    3: IoElement("din3", _bool),  #: 3 "Digital Input 3" (FMB120/FMC130)
    9: IoElement("ain1_v", _milli),  #: 9 "Analog Input 1" (mV)
    179: IoElement("dout1", _bool),  #: 179 "Digital Output 1"
    180: IoElement("dout2", _bool),  #: 180 "Digital Output 2" (FMB120/FMC130)
    113: IoElement("battery_level_pct", as_is),  #: 113 "Battery Level" (%)
    17: IoElement("axis_x_mg", _int16),  #: 17 "Axis X" (mG, signed)
    18: IoElement("axis_y_mg", _int16),  #: 18 "Axis Y" (mG, signed)
    19: IoElement("axis_z_mg", _int16),  #: 19 "Axis Z" (mG, signed)
    11: IoElement("iccid1", as_is),  #: 11 "ICCID1"
    14: IoElement("iccid2", as_is),  #: 14 "ICCID2"
    # --- eventual I/O elements ---
    246: IoElement("towing", _bool),  #: 246 "Towing"
    247: IoElement("crash_detection", as_is),  #: 247 "Crash Detection"
    249: IoElement("jamming", _bool),  #: 249 "Jamming"
    250: IoElement("trip", as_is),  #: 250 "Trip" (0 stop, 1 start)
    251: IoElement("idling", _bool),  #: 251 "Idling"
    252: IoElement("unplug", _bool),  #: 252 "Unplug" (battery disconnected)
    253: IoElement("green_driving_type", as_is),  #: 253 "Green driving type"
    254: IoElement("green_driving_value", as_is),  #: 254 "Green Driving Value"
    255: IoElement("overspeeding_kmh", as_is),  #: 255 "Over Speeding" (km/h)
}
