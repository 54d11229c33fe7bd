"""protocols.commands: the command table, its encodings per family, and which device
messages answer a command. Documented commands and answers come from the samples (and their
sources) in the protocols' own tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from protocols import commands, registry
from protocols.commands import CommandRefused, Target, encode, response, supported
from protocols.errors import UnsupportedMessage
from protocols.gt06 import encode_command as gt06_command
from protocols.model import Position, Reply
from protocols.teltonika import decode_udp
from protocols.tk103 import engine_stop
from tests.unit.protocols.test_gt06 import LOGIN_VL03
from tests.unit.protocols.test_gt06_breadth import RESPONSE_21
from tests.unit.protocols.test_h02 import V4_CR_HST, V4_RESET
from tests.unit.protocols.test_teltonika_messages import C12_GETINFO, C12_GETINFO_RESPONSE
from tests.unit.protocols.test_tk103 import T114_JT

NOW = datetime(2024, 5, 1, 7, 52, 44, tzinfo=UTC)


def target(key: str, transport: str = "tcp", serial: int = 1, **session: object) -> Target:
    return Target(key, transport, NOW, serial, session)  # type: ignore[arg-type]


def test_every_protocol_with_commands_is_registered_and_names_are_known() -> None:
    for protocol, table in commands.ENCODERS.items():
        registry.get(protocol)
        assert set(table) <= set(commands.NAMES)
    assert supported("osmand") == ()
    assert supported("watch") == ("locate", "interval", "reboot", "find", "raw")


def test_teltonika_codec12_matches_the_wiki_getinfo_command() -> None:
    # wiki "Codec 12": the server's getinfo command, byte for byte
    assert encode("teltonika", "raw", "getinfo", target("356307042441013")) == C12_GETINFO
    locate = encode("teltonika", "locate", None, target("356307042441013"))
    assert locate[15:-5] == b"getrecord"


def test_teltonika_udp_command_is_what_the_udp_decoder_reads() -> None:
    imei = "352093086403655"
    packet = encode("teltonika", "reboot", None, target(imei, "udp", serial=0xCAFE))
    # channel header as in the wiki's UDP example: length, packet id, 01, AVL id, IMEI
    assert packet[:8] == bytes.fromhex("0025CAFE01FE000F")
    assert int.from_bytes(packet[:2], "big") == len(packet) - 2
    assert packet[8:23] == imei.encode()
    session = registry.get("teltonika").new_session("udp", None)
    # the device-side decoder reads through both headers to a Codec 12 command (which it
    # refuses from a device, as it should)
    with pytest.raises(UnsupportedMessage, match="codec 12: a command sent by the device"):
        decode_udp(packet, session.state)
    assert session.state.device_key == imei


def test_gt06_online_command_uses_the_connection_serial() -> None:
    got = encode("gt06", "locate", None, target("123456789012345", serial=7))
    assert got == gt06_command("WHERE#", 7, server_flag=7)
    assert encode("gt06", "interval", "60", target("1", serial=2)) == gt06_command(
        "TIMER,60,60#", 2, server_flag=2
    )
    with pytest.raises(CommandRefused):
        encode("gt06", "interval", "5", target("1"))  # below the manuals' 10 s
    with pytest.raises(CommandRefused):
        encode("gt06", "find", None, target("1"))


def test_text_families() -> None:
    # H02 §2: *HQ,<id>,<CMD>,<hhmmss>,<params>#, the server's time
    assert (
        encode("h02", "interval", "60", target("4209950057")) == b"*HQ,4209950057,D1,075244,60,1#"
    )
    assert encode("h02", "raw", "S71,22,30", target("4209950057")) == (
        b"*HQ,4209950057,S71,075244,22,30#"
    )
    # locate CR without a time (HuaSunTeK V1.0.5 §四.2), reboot R1 (ST-901 "Cold Start")
    assert encode("h02", "locate", None, target("4209950057")) == b"*HQ,4209950057,CR#"
    assert encode("h02", "reboot", None, target("4209950057")) == b"*HQ,4209950057,R1,075244#"
    assert supported("h02") == (
        "locate",
        "interval",
        "reboot",
        "engine_stop",
        "engine_resume",
        "raw",
    )
    assert encode("tk103", "engine_stop", None, target("868166054696190")) == engine_stop(
        "868166054696190"
    )
    assert encode("tk103", "interval", "30", target("1")) == b"**,imei:1,C,30s;"
    with pytest.raises(CommandRefused):
        encode("tk103", "raw", "B;**,imei:2,J", target("1"))  # no frame injection
    # the watch answers in the vendor code it spoke with; 3G before it has spoken
    assert encode("watch", "find", None, target("8800000015", vendor="SG")) == (
        b"[SG*8800000015*0004*FIND]"
    )
    assert encode("watch", "locate", None, target("8800000015")) == b"[3G*8800000015*0002*CR]"
    with pytest.raises(CommandRefused):
        encode("watch", "raw", "CR]", target("8800000015"))


def test_owntracks_report_location() -> None:
    payload = encode("owntracks", "locate", None, target("alice/phone", "mqtt"))
    assert json.loads(payload) == {"_type": "cmd", "action": "reportLocation"}
    assert commands.command_topic("alice/phone") == "owntracks/alice/phone/cmd"


def test_answers_are_recognised() -> None:
    s = registry.get("gt06").new_session("tcp", None)
    s.receive(LOGIN_VL03)
    (info,) = s.receive(RESPONSE_21)
    answer = response(info)
    assert answer is not None
    assert (answer["server_flag"], answer["text"]) == (1, "Relay ON success")
    (v4,) = registry.get("h02").new_session("tcp", None).receive(V4_RESET)
    v4_answer = response(v4)
    assert v4_answer is not None
    assert v4_answer["text"] == "RESET OK"
    (cr,) = registry.get("h02").new_session("tcp", None).receive(V4_CR_HST)
    assert response(cr) == {"command": "CR", "text": ""}
    tel = registry.get("teltonika").new_session("tcp", None)
    tel.receive(bytes.fromhex("000F333536333037303432343431303133"))
    (c12,) = tel.receive(C12_GETINFO_RESPONSE)
    assert response(c12) is not None
    (jt,) = registry.get("tk103").new_session("tcp", None).receive(T114_JT)
    assert response(jt) == {"event": "jt"}
    plain = Position(
        device_key="a/b", protocol="owntracks", fix_time=NOW, lat=1.0, lon=2.0, valid=True
    )
    assert response(plain) is None
    asked = Position(
        device_key="a/b",
        protocol="owntracks",
        fix_time=NOW,
        lat=1.0,
        lon=2.0,
        valid=True,
        attributes={"t": "r"},
    )
    assert response(asked) == {"t": "r", "lat": 1.0, "lon": 2.0}
    assert response(Reply(data=b"x", acks_data=False)) is None
