"""``trackgw decode`` through gateway.cli.main (samples from the protocol tests)."""

from __future__ import annotations

import json

import pytest

from gateway.cli import main
from tests.unit.protocols.test_gt06 import LOCATION_12_AS_PRINTED, LOCATION_22, LOGIN_VL03
from tests.unit.protocols.test_teltonika import IMEI, UDP_C8, VILNIUS


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_login_then_location(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["decode", "--protocol", "gt06", "--hex", LOGIN_VL03.hex(), "--hex", LOCATION_22.hex()]
    )
    lines = _lines(capsys)
    assert code == 0
    assert lines[0] == {
        "input": 0,
        "type": "login",
        "device": "752533678900242",
        "attributes": {"type_id": "7000", "timezone_min": 480},
    }
    assert lines[1] == {
        "input": 0,
        "type": "reply",
        "hex": "7878050100059ff80d0a",
        "acks_data": False,
    }
    assert lines[2]["input"] == 1
    assert lines[2]["type"] == "position"
    assert lines[2]["fix_time"] == "2015-12-29T02:51:05Z"
    assert lines[2]["valid"] is True


def test_rejected_frame_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "decode",
            "--protocol",
            "gt06",
            "--device",
            "123456789012345",
            "--hex",
            LOCATION_12_AS_PRINTED.hex(),
        ]
    )
    (line,) = _lines(capsys)
    assert code == 1
    assert line["type"] == "error"
    assert line["error"] == "BadChecksum"


def test_teltonika_tcp_and_udp(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["decode", "--protocol", "teltonika", "--hex", IMEI.hex(), "--hex", VILNIUS.hex()])
        == 0
    )
    lines = _lines(capsys)
    assert lines[2]["lat"] == pytest.approx(54.7976576)
    assert lines[3] == {"input": 1, "type": "reply", "hex": "00000001", "acks_data": True}
    assert (
        main(["decode", "--protocol", "teltonika", "--transport", "udp", "--hex", UDP_C8.hex()])
        == 0
    )
    assert _lines(capsys)[-1]["hex"] == "0005cafe010501"


def test_text_input_and_auto(capsys: pytest.CaptureFixture[str]) -> None:
    v1 = "*HQ,865205030330012,V1,145452,A,2240.55181,N,11358.32389,E,0.00,0,100815,FFFFFBFF#"
    assert main(["decode", "--protocol", "auto", "--text", v1]) == 0
    (line,) = _lines(capsys)
    assert line["device"] == "865205030330012"


@pytest.mark.parametrize(
    "argv",
    [
        ["decode", "--protocol", "gt06", "--hex", "zz"],
        ["decode", "--protocol", "gt06"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2


def test_unknown_protocol_exits_2() -> None:
    with pytest.raises(SystemExit) as info:
        main(["decode", "--protocol", "nope", "--hex", "00"])
    assert info.value.code == 2


@pytest.mark.parametrize(
    ("protocol", "text"),
    [
        (
            "h02",
            "*HQ,865205030330012,V1,145452,A,2240.55181,N,11358.32389,E,0.00,0,100815,FFFFFBFF",
        ),
        ("tk103", "imei:359586015829802,tracker,000000000,13554900601,L,"),
        ("watch", "[3G*8800000015*0002*LK"),
        ("auto", "[3G*8800000015*0002*LK"),
    ],
)
def test_frame_without_terminator_is_reported_incomplete(
    protocol: str, text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["decode", "--protocol", protocol, "--text", text])
    (line,) = _lines(capsys)
    assert code == 1
    assert (line["type"], line["error"], line["input"]) == ("error", "Incomplete", 0)
    assert f"{len(text)} bytes" in str(line["detail"])


def test_whole_frame_then_nothing_left_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["decode", "--protocol", "watch", "--text", "[3G*8800000015*0002*LK]"])
    assert code == 0
    assert [line["type"] for line in _lines(capsys)] == ["heartbeat", "reply"]
