"""``trackgw decode``: a frame cut before its end (GT06 stop bits, a Teltonika CRC) is
reported as incomplete, never silently dropped (issue 13 acceptance)."""

from __future__ import annotations

import json

import pytest

from gateway.cli import main
from tests.unit.protocols.test_gt06 import LOGIN_VL03, TIME_REQUEST
from tests.unit.protocols.test_teltonika import IMEI
from tests.unit.protocols.test_teltonika_messages import C12_GETIO_RESPONSE


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.mark.parametrize(
    ("protocol", "first", "cut"),
    [
        ("gt06", LOGIN_VL03, TIME_REQUEST[:-2]),  # no 0D 0A
        ("teltonika", IMEI, C12_GETIO_RESPONSE[:-4]),  # no CRC
        ("auto", LOGIN_VL03, TIME_REQUEST[:-2]),
    ],
)
def test_frame_without_its_end_is_reported(
    protocol: str, first: bytes, cut: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["decode", "--protocol", protocol, "--hex", first.hex(), "--hex", cut.hex()])
    lines = _lines(capsys)
    assert code == 1
    assert lines[0]["type"] == "login"
    assert lines[-1] == {
        "input": 1,
        "type": "error",
        "error": "Incomplete",
        "detail": f"{len(cut)} bytes at the end of the input are not a whole frame"
        " (missing terminator or shorter than its length)",
        "fatal": False,
    }


def test_whole_time_request_is_answered(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["decode", "--protocol", "gt06", "--hex", TIME_REQUEST.hex()])
    (line,) = _lines(capsys)
    assert code == 0
    assert line["type"] == "reply"
    assert str(line["hex"]).startswith("78780b8a")
