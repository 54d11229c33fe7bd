"""Property tests over every registered protocol (including ones that land later) and the
auto-detecting session: arbitrary and mutated bytes give only messages and ``Rejected``,
buffers stay bounded, and any chunking of a valid stream gives the same messages."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols import registry
from protocols.base import ProtocolSpec
from protocols.detect import MAX_PROBE, AutoSession
from protocols.model import (
    DeviceEvent,
    DeviceInfo,
    Heartbeat,
    Login,
    Message,
    Position,
    Rejected,
    Reply,
    check_attributes,
)
from tests.unit.protocols import test_gt06, test_h02, test_teltonika, test_tk103, test_watch
from tests.unit.protocols.helpers import comparable

MESSAGE_TYPES = (Position, DeviceEvent, Login, Heartbeat, DeviceInfo, Reply, Rejected)
SPECS = registry.all_specs()
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: valid TCP streams of real samples, per protocol
STREAMS: dict[str, bytes] = {
    "gt06": test_gt06.LOGIN_VL03
    + test_gt06.LOCATION_22
    + test_gt06.ALARM_26
    + test_gt06.HEARTBEAT_VL03,
    "teltonika": test_teltonika.IMEI + test_teltonika.C8_EX3 + test_teltonika.C16,
    "h02": test_h02.V1 + test_h02.HTBT + test_h02.BIN_V1,
    # every h02 path: V19/NBR, no_fix, binary 32/37/45/51 with tails, V4 with a fix, V5,
    # XT, VP1 (fix and cells), VI1 with its coding scheme
    "h02_breadth": test_h02.NBR_V19_REAL
    + test_h02.BIN45_A_REAL
    + test_h02.V1_LBS_ONLY_REAL
    + test_h02.BIN_REAL
    + test_h02.V4_D1_REAL
    + test_h02.BIN32_VALID_REAL
    + test_h02.V5
    + test_h02.XT_REAL
    + test_h02.BIN51_5417
    + test_h02.VP1_HST_FIX
    + test_h02.VP1_HST_LBS
    + test_h02.VI1_HST,
    "tk103": test_tk103.T230_LOGIN
    + test_tk103.T230_HEARTBEAT
    + test_tk103.T1632
    + test_tk103.T1632_OBD
    + test_tk103.T1590
    + test_tk103.T1733_BARE_HEARTBEAT
    + test_tk103.T1733
    + test_tk103.SOS,
    "watch": test_watch.LK_2702_REAL
    + test_watch.UD_1864_REAL
    + test_watch.AL_LTE
    + test_watch.UD_NO_GPS_REAL
    + test_watch.BPHRT
    + test_watch.TKQ
    + test_watch.GS1_REAL[0]
    # BUILT: a decimal LEN, a header with a message index, an escaped voice frame
    + b"[SG*8800000015*0013*LK,50,100,100]"
    + b"[3G*8800000015*00A1*0002*LK]"
    + b"[3G*8800000015*0009*TK,#!\x7d\x03\x7d\x01]",
}
#: registry name of each stream's protocol
PROTOCOL_OF = {"h02_breadth": "h02"}
SAMPLES = [*STREAMS.values(), test_teltonika.UDP_C8, test_teltonika.UDP_C8E]


def _sessions(spec: ProtocolSpec):  # type: ignore[no-untyped-def]
    for transport in sorted(spec.transports):
        yield spec.new_session(transport, None)


def assert_storable(message: Message) -> None:
    """What the store needs of every message, checked the slow way (also for positions made
    by ``Position.trusted``, which leaves the attributes to its caller)."""
    assert isinstance(message, MESSAGE_TYPES)
    position = message.position if isinstance(message, DeviceEvent) else message
    if isinstance(position, Position):
        for value in (
            position.speed_kmh,
            position.course_deg,
            position.altitude_m,
            position.accuracy_m,
            position.battery_pct,
        ):
            assert value is None or abs(value) <= 3.4e38
        assert position.satellites is None or 0 <= position.satellites <= 32767
    attributes = getattr(message, "attributes", None)
    if attributes is not None:
        check_attributes(attributes, "test")  # raises BadValue if not storable
    key = getattr(message, "device_key", None)
    if key is not None:
        assert key.isprintable()


def _check(session, chunks: list[bytes]) -> None:  # type: ignore[no-untyped-def]
    bound = 0
    for chunk in chunks:
        for message in session.receive(chunk):
            assert_storable(message)
        bound = max(bound, session.buffered)
    limit = getattr(getattr(session, "_framer", None), "max_size", None)
    assert bound <= max(limit or 0, 1 << 16)


@SETTINGS
@given(spec=st.sampled_from(SPECS), chunks=st.lists(st.binary(max_size=300), max_size=8))
def test_arbitrary_bytes(spec: ProtocolSpec, chunks: list[bytes]) -> None:
    for session in _sessions(spec):
        _check(session, chunks)


@SETTINGS
@given(
    spec=st.sampled_from(SPECS),
    sample=st.sampled_from(SAMPLES),
    flips=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=6),
    cut=st.integers(0, 1 << 16),
)
def test_mutated_samples(
    spec: ProtocolSpec, sample: bytes, flips: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(sample)
    for where, value in flips:
        data[where % len(data)] = value
    mutated = bytes(data)
    split = cut % (len(mutated) + 1)
    for session in _sessions(spec):
        _check(session, [mutated[:split], mutated[split:]])


@SETTINGS
@given(
    sample=st.sampled_from(SAMPLES),
    flips=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=4),
    garbage=st.binary(max_size=200),
)
def test_auto_session(sample: bytes, flips: list[tuple[int, int]], garbage: bytes) -> None:
    data = bytearray(sample)
    for where, value in flips:
        data[where % len(data)] = value
    for stream in (bytes(data), garbage + bytes(data)):
        session = AutoSession()
        for message in session.receive(stream):
            assert_storable(message)
        assert session.buffered <= max(MAX_PROBE, 1 << 16)


@SETTINGS
@given(name=st.sampled_from(sorted(STREAMS)), cuts=st.lists(st.integers(0, 4096), max_size=12))
def test_any_chunking_gives_the_same_messages(name: str, cuts: list[int]) -> None:
    stream = STREAMS[name]
    spec = registry.get(PROTOCOL_OF.get(name, name))
    whole = comparable(spec.new_session("tcp", None).receive(stream))
    points = sorted({c % (len(stream) + 1) for c in cuts})
    session = spec.new_session("tcp", None)
    out = []
    for a, b in zip([0, *points], [*points, len(stream)], strict=True):
        out.extend(session.receive(stream[a:b]))
    assert comparable(out) == whole
    auto = AutoSession()
    out = []
    for a, b in zip([0, *points], [*points, len(stream)], strict=True):
        out.extend(auto.receive(stream[a:b]))
    assert comparable(out) == whole
