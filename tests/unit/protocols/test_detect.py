"""Auto-detection over the registered TCP protocols (samples from test_gt06/test_teltonika)."""

from __future__ import annotations

from protocols.base import Detection
from protocols.detect import MAX_PROBE, AutoSession, detect, tcp_detectors
from protocols.model import Login, Position, Rejected
from tests.unit.protocols.helpers import feed_three_ways
from tests.unit.protocols.test_gt06 import LOCATION_22, LOGIN_VL03
from tests.unit.protocols.test_h02 import V1
from tests.unit.protocols.test_teltonika import C8_EX1, IMEI


def test_binary_protocols_take_part() -> None:
    names = {spec.name for spec in tcp_detectors()}
    assert {"gt06", "teltonika", "h02"} <= names


def test_detect_verdicts() -> None:
    assert getattr(detect(LOGIN_VL03[:2]), "name", None) == "gt06"
    assert getattr(detect(IMEI), "name", None) == "teltonika"
    assert getattr(detect(V1[:4]), "name", None) == "h02"
    assert detect(b"") is Detection.MORE


def test_auto_gt06_stream() -> None:
    messages = feed_three_ways(AutoSession, LOGIN_VL03 + LOCATION_22)
    assert isinstance(messages[0], Login)
    assert isinstance(messages[2], Position)


def test_auto_teltonika_stream() -> None:
    messages = feed_three_ways(AutoSession, IMEI + C8_EX1, trailing=b"\x00")
    assert [type(m).__name__ for m in messages] == ["Login", "Reply", "Position", "Reply"]


def test_auto_h02_stream_reports_protocol() -> None:
    session = AutoSession()
    (pos,) = session.receive(V1)
    assert isinstance(pos, Position)
    assert session.protocol == "h02"


def test_garbage_is_fatal_and_bounded() -> None:
    session = AutoSession()
    (rejected,) = session.receive(b"\xff" * (MAX_PROBE + 10))
    assert isinstance(rejected, Rejected)
    assert rejected.fatal
    assert session.failed
    assert session.receive(LOGIN_VL03) == []


def test_skipped_garbage_is_visible_through_the_auto_session() -> None:
    # Built: garbage before a GT06 login (the GT06 v1.8.1 §5.1 login example's layout); the
    # listener reads ``skipped`` to cut off a connection that sends only garbage.
    from protocols import simulate
    from protocols.detect import new_auto_session

    session = new_auto_session()
    login = simulate.gt06_login("123456789012345")
    session.receive(login)
    assert session.protocol == "gt06"
    session.receive(b"\x00garbage\xff" + login)
    assert session.skipped == len(b"\x00garbage\xff")
