"""GT06 (Concox) protocol numbers and field values.

Sources: "GPS Tracker Communication Protocol (GT06)" v1.8.1, Shenzhen Concox Information
Technology, section IV (packet format) and V (packets) ("[V181]"); "GPS Tracker Communication
Protocol JM-VL03" V1.1.2, Concox, sections "Protocol Numbers" and 1-12 ("[VL03]"); "GT03A/B
Communication protocol" V1.82, Concox, §5.2 GPS, §5.3 LBS, §5.6 LBS + phone number, §5.7 LBS
extension, §5.9 GPS + phone number ("[GT03]"; the byte layouts of §5.3, §5.6 and §5.7 as read
off the captured packets named in the tests); Concox "V5" communication protocol manual
(X3/AT4/wetrack family) §5 WiFi and §7.1 LBS alarm ("[V5]"); "GPS Tracker Communication
Protocol (JM-LL301)" v1.0 2021-08-23, Concox, contents: §11 WiFi over 4G (0xA2), §16 LBS
address request over 4G (0xA7), §18 LBS alarm over 4G (0xA5) ("[LL301]"; only the contents
were at hand: these three are read as their 2G packet with the 4G cell fields of [VL03]
§10-§11, and must use up the packet exactly).
"""

from __future__ import annotations

import enum

#: start bits: 0x78 0x78 -> 1-byte length, 0x79 0x79 -> 2-byte length (JM-VL03, "Packet Structure")
SHORT_START = b"\x78\x78"
LONG_START = b"\x79\x79"
#: stop bits 0x0D 0x0A (GT06 v1.8.1 §4.7)
STOP = b"\r\n"
#: length counts protocol number + content + serial (2) + CRC (2): at least 5
MIN_LENGTH = 5
#: lat/lon units: minutes * 30000 (GT06 v1.8.1 §5.2.1.4: value / 30000 / 60 = degrees)
COORDINATE_DIVISOR = 1_800_000.0


class MessageType(enum.IntEnum):
    """Protocol number of a terminal -> server packet."""

    LOGIN = 0x01  #: GT06 v1.8.1 §5.1; JM-VL03 §1
    GPS = 0x10  #: [GT03] §5.2 "GPS information package": the GPS block alone
    LBS = 0x11  #: [GT03] §5.3 "LBS information package": date-time, serving cell
    GPS_LBS = 0x12  #: GT06 v1.8.1 §5.2 "location data packet (GPS + LBS)"
    STATUS = 0x13  #: GT06 v1.8.1 §5.3 "status information (heartbeat)"; JM-VL03 §2
    STRING = 0x15  #: JM-VL03 §7 "terminal response, old version" (ASCII string)
    ALARM = 0x16  #: GT06 v1.8.1 §5.4 "alarm data (GPS, LBS, status)"
    LBS_PHONE = 0x17  #: [GT03] §5.6, [LL301] §15: serving cell + phone number (address request)
    LBS_EXTEND = 0x18  #: [GT03] §5.7 "LBS extension": date, serving cell, 6 neighbours (as 0x28)
    LBS_ALARM = 0x19  #: [V5] §7.1 LBS alarm: LBS + status, no date, no GPS
    GPS_PHONE = 0x1A  #: [GT03] §5.9 GPS block + phone number (address request, as 0x2A)
    COMMAND_REPLY = 0x21  #: JM-VL03 §7 "terminal response, universal version" (0x7979)
    GPS_LBS_UTC = 0x22  #: JM-VL03 §3 "GPS location packet (UTC)"
    HEARTBEAT_EXT = 0x23  #: AT4/X3 heartbeat: terminal info, voltage (2 bytes, V x 100), GSM
    ALARM_UTC = 0x26  #: JM-VL03 §5 "alarm data (UTC)"
    ALARM_FENCES = 0x27  #: JM-VL03 §5 "alarm data, multiple geofences"
    LBS_MULTI = 0x28  #: JM-VL03 §4 LBS multi-base extended information
    ADDRESS_REQUEST = 0x2A  #: JM-VL03 §6 GPS address request (UTC): GPS block + phone number
    WIFI = 0x2C  #: [V5] §5 WiFi information: date, LBS (main + 6 neighbours), access points
    ONLINE_COMMAND = 0x80  #: JM-VL03 §7 online command (server -> terminal)
    TIME_REQUEST = 0x8A  #: JM-VL03 §8 time calibration request (answered with UTC)
    INFO = 0x94  #: JM-VL03 §9 "information transfer packet" (0x7979)
    GPS_LBS_4G = 0xA0  #: JM-VL03 §10 GPS location packet, 4G base station
    LBS_MULTI_4G = 0xA1  #: JM-VL03 §11 LBS multi-base extended information, 4G
    WIFI_4G = 0xA2  #: [LL301] §11 WiFi information over 4G: 0x2C with 4G cells
    LBS_ALARM_4G = 0xA5  #: [LL301] §18 LBS alarm over 4G: 0x19 with a 4G cell
    ALARM_4G = 0xA4  #: JM-VL03 §12 multi-fence alarm packet, 4G
    LBS_PHONE_4G = 0xA7  #: [LL301] §16 LBS address request over 4G: 0x17 with a 4G cell


#: packets carrying a GPS block + LBS + status (alarm layout)
ALARM_TYPES = frozenset(
    {MessageType.ALARM, MessageType.ALARM_UTC, MessageType.ALARM_FENCES, MessageType.ALARM_4G}
)
#: packets carrying a GPS block + LBS (location layout)
LOCATION_TYPES = frozenset(
    {MessageType.GPS, MessageType.GPS_LBS, MessageType.GPS_LBS_UTC, MessageType.GPS_LBS_4G}
)
#: packets carrying a list of cells (LBS multi-base, [VL03] §4 and §11; [GT03] §5.7)
LBS_TYPES = frozenset({MessageType.LBS_MULTI, MessageType.LBS_MULTI_4G, MessageType.LBS_EXTEND})
#: packets whose cells use the 4G field sizes ([VL03] §10-§11: MNC 1|2, LAC 4, cell id 8)
FOUR_G_TYPES = frozenset(
    {
        MessageType.GPS_LBS_4G,
        MessageType.LBS_MULTI_4G,
        MessageType.WIFI_4G,
        MessageType.ALARM_4G,
        MessageType.LBS_ALARM_4G,
        MessageType.LBS_PHONE_4G,
    }
)
#: packets the terminal waits for an answer to (GT06 v1.8.1 §3: login, status, alarm)
REPLIED_TYPES = (
    frozenset(
        {
            MessageType.LOGIN,
            MessageType.STATUS,
            MessageType.HEARTBEAT_EXT,
            MessageType.LBS_ALARM,
            MessageType.LBS_ALARM_4G,
        }
    )
    | ALARM_TYPES
)
#: neighbour cells in an LBS multi-base or WiFi packet ([VL03] §4, [V5] §5)
NEIGHBOUR_CELLS = 6


class CourseStatus(enum.IntFlag):
    """High bits of the 2-byte "course, status" field (GT06 v1.8.1 §5.2.1.7; JM-VL03 §3)."""

    DIFFERENTIAL = 0x2000  #: bit 5 of byte 1: differential (1) or real-time (0) GPS
    POSITIONED = 0x1000  #: bit 4: GPS has a fix
    WEST = 0x0800  #: bit 3: 1 = west longitude
    NORTH = 0x0400  #: bit 2: 1 = north latitude
    COURSE_MASK = 0x03FF  #: bits 9..0: course in degrees


class TerminalInfo(enum.IntFlag):
    """Terminal information byte (GT06 v1.8.1 §5.3.1.1; JM-VL03 §2 and §5)."""

    ARMED = 0x01  #: bit 0: defence on
    ACC = 0x02  #: bit 1: ACC (ignition) high
    CHARGING = 0x04  #: bit 2: external power connected
    ALARM_MASK = 0x38  #: bits 5..3: 100 SOS, 011 low battery, 010 power cut, 001 vibration
    GPS_FIXED = 0x40  #: bit 6: GPS positioned
    FUEL_CUT = 0x80  #: bit 7: oil/electricity cut


class AlarmCode(enum.IntEnum):
    """First byte of "alert and language" (JM-VL03 §5 "Alert and Language", byte 1)."""

    NORMAL = 0x00  #: no alert
    SOS = 0x01  #: SOS
    POWER_CUT = 0x02  #: power cut
    VIBRATION = 0x03  #: vibration
    FENCE_IN = 0x04  #: entered fence
    FENCE_OUT = 0x05  #: left fence
    OVERSPEED = 0x06  #: speed alert
    TOW = 0x09  #: tow / theft
    LOW_EXTERNAL_BATTERY = 0x0E  #: low external battery
    LOW_VOLTAGE_PROTECTION = 0x0F  #: external battery low-voltage protection
    TAMPER = 0x13  #: tamper
    DOOR = 0x14  #: door
    LOW_BATTERY_POWER_OFF = 0x15  #: powered off due to low battery
    COVER_REMOVED = 0x18  #: cover removed
    LOW_INTERNAL_BATTERY = 0x19  #: low internal battery
    FALL = 0x23  #: fall
    COLLISION = 0x2C  #: collision
    ACC_ON = 0xFE  #: ACC on (not an alarm)
    ACC_OFF = 0xFF  #: ACC off (not an alarm)


#: vendor alarm code -> model.ALARM_KINDS name
ALARM_KIND: dict[int, str] = {
    AlarmCode.SOS: "sos",
    AlarmCode.POWER_CUT: "power_cut",
    AlarmCode.VIBRATION: "vibration",
    AlarmCode.FENCE_IN: "geofence_enter",
    AlarmCode.FENCE_OUT: "geofence_exit",
    AlarmCode.OVERSPEED: "overspeed",
    AlarmCode.TOW: "movement",
    AlarmCode.LOW_EXTERNAL_BATTERY: "low_power",
    AlarmCode.LOW_VOLTAGE_PROTECTION: "low_power",
    AlarmCode.TAMPER: "tamper",
    AlarmCode.DOOR: "door",
    AlarmCode.LOW_BATTERY_POWER_OFF: "low_battery",
    AlarmCode.COVER_REMOVED: "removing",
    AlarmCode.LOW_INTERNAL_BATTERY: "low_battery",
    AlarmCode.FALL: "fall_down",
    AlarmCode.COLLISION: "accident",
}

#: alarm bits 5..3 of the terminal information byte (GT06 v1.8.1 §5.3.1.1)
TERMINAL_ALARM_KIND: dict[int, str] = {
    0b100: "sos",
    0b011: "low_battery",
    0b010: "power_cut",
    0b001: "vibration",
}


class InfoType(enum.IntEnum):
    """Sub-protocol of the 0x94 information transfer packet (JM-VL03 §9)."""

    EXTERNAL_VOLTAGE = 0x00  #: 2 bytes, volts * 100
    STATUS_SYNC = 0x04  #: ASCII "ALM1=..;STA1=..;" status synchronisation
    DOOR = 0x05  #: door status bits
    SELF_CHECK = 0x08  #: self-check parameters (layout not given: raw hex)
    SATELLITES = 0x09  #: GPS and BDS module status, satellites in fix / visible, strengths
    ICCID = 0x0A  #: IMEI (8) + IMSI (8) + ICCID (10), BCD
    RFID = 0x1B  #: RFID card number, BCD


class ModuleStatus(enum.IntEnum):
    """GPS / BDS module status of the 0x94 type 0x09 packet ([VL03] §9)."""

    NO_FEATURE = 0x00
    SEARCHING = 0x01
    FIX_2D = 0x02
    FIX_3D = 0x03
    SLEEPING = 0x04


class DoorStatus(enum.IntFlag):
    """0x94 type 0x05 door status byte (JM-VL03 §9)."""

    DOOR_OPEN = 0x01  #: bit 0: door on
    TRIGGER_HIGH = 0x02  #: bit 1: trigger level high
    IO_HIGH = 0x04  #: bit 2: I/O port high


class TextEncoding(enum.IntEnum):
    """Content encoding of a 0x21 command reply (JM-VL03 §7)."""

    ASCII = 0x01  #: ASCII
    UTF16BE = 0x02  #: UTF-16 big-endian


class Language(enum.IntEnum):
    """Language word of an online command ([VL03] §7) and other packets."""

    CHINESE = 0x0001
    ENGLISH = 0x0002


class Command(enum.StrEnum):
    """SMS-compatible command texts of the GT06 family, sent in a 0x80 online command.

    From the Concox user manuals (GT06N, JM-VL01/02/03, AT4, X3): ``WHERE#`` asks for the
    position, ``TIMER,T1,T2#`` sets the upload interval (seconds, ACC on / off), ``RESET#``
    reboots, ``RELAY,1#`` / ``RELAY,0#`` cut / restore fuel or power (JM-VL03, AT4, X3),
    ``DYD,000000#`` / ``HFYD,000000#`` the same on GT06N/GT800 (with the device password).
    """

    LOCATE = "WHERE#"
    REBOOT = "RESET#"
    ENGINE_CUT_RELAY = "RELAY,1#"
    ENGINE_RESTORE_RELAY = "RELAY,0#"
    ENGINE_CUT_DYD = "DYD,{password}#"
    ENGINE_RESTORE_HFYD = "HFYD,{password}#"
    INTERVAL = "TIMER,{on},{off}#"
