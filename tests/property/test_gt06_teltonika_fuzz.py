"""Property tests over the GT06 and Teltonika message types added for issue 13 (LBS,
WiFi, address request, time request, AT4 heartbeat, LBS alarm; Codec 12-15 messages):
mutated samples give only messages and ``Rejected``, and any chunking of a valid stream
gives the same messages as the whole stream."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols import registry
from protocols._common import CLOCK_KEY
from protocols.base import Session
from protocols.model import DeviceEvent, DeviceInfo, Heartbeat, Login, Position, Rejected, Reply
from tests.unit.protocols import test_gt06, test_gt06_breadth, test_teltonika
from tests.unit.protocols import test_teltonika_messages as tm
from tests.unit.protocols.helpers import comparable

MESSAGE_TYPES = (Position, DeviceEvent, Login, Heartbeat, DeviceInfo, Reply, Rejected)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
b = test_gt06_breadth
STREAMS: dict[str, bytes] = {
    "gt06": test_gt06.LOGIN_VL03
    + test_gt06.TIME_REQUEST
    + b.LBS_28
    + b.ADDRESS_2A
    + b.HEARTBEAT_23
    + b.LBS_ALARM_19
    + b.WIFI_2C
    + b.LBS_A1
    + b.INFO_DOOR
    + b.RESPONSE_21,
    "teltonika": test_teltonika.IMEI
    + tm.C12_GETINFO_RESPONSE
    + tm.C13
    + tm.C12_GETIO_RESPONSE
    + tm.C15
    + test_teltonika.C8_EX1
    + tm.FMB120_RECORD,
}


def _session(name: str) -> Session:
    session = registry.get(name).new_session("tcp", None)
    session.state.values[CLOCK_KEY] = lambda: b.CLOCK
    return session


@SETTINGS
@given(
    name=st.sampled_from(sorted(STREAMS)),
    flips=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=6),
    cut=st.integers(0, 1 << 16),
)
def test_mutated_streams(name: str, flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(STREAMS[name])
    for where, value in flips:
        data[where % len(data)] = value
    split = cut % (len(data) + 1)
    for target in sorted(STREAMS):  # each protocol's session also meets the other's bytes
        session = _session(target)
        for chunk in (bytes(data[:split]), bytes(data[split:])):
            for message in session.receive(chunk):
                assert isinstance(message, MESSAGE_TYPES)


@SETTINGS
@given(name=st.sampled_from(sorted(STREAMS)), cuts=st.lists(st.integers(0, 4096), max_size=12))
def test_any_chunking_gives_the_same_messages(name: str, cuts: list[int]) -> None:
    stream = STREAMS[name]
    whole = comparable(_session(name).receive(stream))
    assert not any(isinstance(m, Rejected) for m in whole)
    points = sorted({c % (len(stream) + 1) for c in cuts})
    session = _session(name)
    out = []
    for a, z in zip([0, *points], [*points, len(stream)], strict=True):
        out.extend(session.receive(stream[a:z]))
    assert comparable(out) == whole
