"""OsmAnd / Traccar Client HTTP protocol, default port 5055.

Source: https://www.traccar.org/osmand/ ("Query / form format" and "JSON format"). One HTTP
request is one frame: either its query string or form body (``id=..&lat=..``, with or
without a leading ``/?`` or ``?``), or the JSON body of Traccar Client 9 and later.

Query/form parameters: ``id`` or ``deviceid`` (required), ``valid``, ``timestamp`` (epoch
seconds or milliseconds, ISO 8601 or ``yyyy-MM-dd HH:mm:ss``), ``lat``/``lon`` or
``location=lat,lon``, ``speed`` in KNOTS, ``bearing`` or ``heading`` (degrees),
``altitude`` (m), ``accuracy`` (m), ``hdop``, ``batt`` (%), ``charge``, ``driverUniqueId``,
``cell``, ``wifi``; any other parameter becomes an attribute.

JSON: ``{"device_id", "location": {"timestamp" ISO, "coords": {"latitude", "longitude",
"accuracy" m, "speed" m/s, "heading", "altitude"}, "is_moving", "odometer" m, "event",
"battery": {"level" 0..1, "is_charging"}, "activity": {"type"}, "extras": {}}}``; the SDK
reports unknown speed/heading/accuracy as -1 and battery level as -1.

Reply: HTTP 200 once stored (``Reply(b"", acks_data=True)``; the HTTP listener maps it).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from . import _common as common
from .base import ProtocolSpec, Session, SessionState, SingleFrame, Transport
from .errors import Malformed, NotIdentified
from .model import AttributeValue, Heartbeat, Message, Position, Reply, freeze

PROTOCOL = "osmand"
DEFAULT_PORT = 5055
#: Largest request (query string or body) accepted; real ones are under 2 KiB.
MAX_MESSAGE = 64 * 1024
LEGACY_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
TRUE_WORDS = frozenset({"true", "1"})
FALSE_WORDS = frozenset({"false", "0"})
#: Parameters with a meaning of their own; anything else is kept as an attribute.
KNOWN = frozenset(
    {
        "id", "deviceid", "valid", "timestamp", "lat", "lon", "location", "speed",
        "bearing", "heading", "altitude", "accuracy", "batt",
    }
)  # fmt: skip
ACK = Reply(data=b"", acks_data=True)


def _time(text: str) -> datetime:
    text = text.strip()
    if text.lstrip("-").replace(".", "", 1).isdigit():
        return common.from_epoch(common.parse_float(text, "timestamp", PROTOCOL), PROTOCOL)
    try:
        return datetime.strptime(text, LEGACY_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return common.parse_iso(text, PROTOCOL)


def _bool(text: str, what: str) -> bool:
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise Malformed(f"bad {what}: {text!r}", protocol=PROTOCOL)


def _plain(text: str) -> AttributeValue:
    """An extra parameter: a number when it reads as one, else the text."""
    try:
        return common.parse_float(text, "", PROTOCOL) if text.strip() else text
    except Malformed:
        return text


def _decode_query(frame: bytes, state: SessionState) -> list[Message]:
    text = common.ascii_text(frame, PROTOCOL).strip()
    if text.startswith(("/", "?")):  # a request target: /?id=.. or /path?id=..
        text = text.partition("?")[2]
    params = dict(parse_qsl(text, keep_blank_values=True))
    device = params.get("id") or params.get("deviceid") or state.device_key
    if not device:
        raise NotIdentified("no id or deviceid parameter", protocol=PROTOCOL, data=frame)
    state.device_key = device
    attributes: dict[str, AttributeValue] = {
        key: _plain(value) for key, value in params.items() if key not in KNOWN
    }
    if "charge" in params:
        attributes["charge"] = _bool(params["charge"], "charge")
    if "location" in params:
        lat_text, _, lon_text = params["location"].partition(",")
    else:
        lat_text, lon_text = params.get("lat", ""), params.get("lon", "")
    battery = common.optional_float(params.get("batt", ""), "batt", PROTOCOL)
    if bool(lat_text.strip()) != bool(lon_text.strip()):
        missing = "lon" if lat_text.strip() else "lat"
        raise Malformed(
            f"{missing} missing beside the other coordinate", protocol=PROTOCOL, data=frame
        )
    if not lat_text.strip():
        if battery is not None:
            attributes["battery_pct"] = battery
        return [Heartbeat(device_key=device, protocol=PROTOCOL, attributes=freeze(attributes)), ACK]
    lat = common.parse_float(lat_text, "lat", PROTOCOL)
    lon = common.parse_float(lon_text, "lon", PROTOCOL)
    common.check_lat_lon(lat, lon, PROTOCOL)
    knots = common.optional_float(params.get("speed", ""), "speed", PROTOCOL)
    course = params.get("bearing") or params.get("heading") or ""
    stamp = params.get("timestamp", "")
    position = Position(
        device_key=device,
        protocol=PROTOCOL,
        fix_time=_time(stamp) if stamp.strip() else common.now(state),
        lat=lat,
        lon=lon,
        valid=_bool(params["valid"], "valid") if "valid" in params else True,
        speed_kmh=None if knots is None else knots * common.KMH_PER_KNOT,
        course_deg=common.optional_float(course, "bearing", PROTOCOL),
        altitude_m=common.optional_float(params.get("altitude", ""), "altitude", PROTOCOL),
        accuracy_m=common.positive_or_none(
            common.optional_float(params.get("accuracy", ""), "accuracy", PROTOCOL)
        ),
        battery_pct=battery,
        attributes=freeze(attributes),
    )
    return [position, ACK]


def _object(value: object, what: str) -> Mapping[str, object]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise Malformed(f"{what} is not an object", protocol=PROTOCOL)
    return value


def _json_position(device: str, location: Mapping[str, object]) -> Position:
    coords = _object(location.get("coords"), "coords")
    lat = common.json_number(coords.get("latitude"), "latitude", PROTOCOL)
    lon = common.json_number(coords.get("longitude"), "longitude", PROTOCOL)
    if lat is None or lon is None:
        raise Malformed("location without coordinates", protocol=PROTOCOL)
    common.check_lat_lon(lat, lon, PROTOCOL)
    stamp = location.get("timestamp")
    if not isinstance(stamp, str):
        raise Malformed(f"bad timestamp: {stamp!r}", protocol=PROTOCOL)
    speed = common.non_negative_or_none(common.json_number(coords.get("speed"), "speed", PROTOCOL))
    battery = _object(location.get("battery"), "battery")
    level = common.non_negative_or_none(
        common.json_number(battery.get("level"), "battery level", PROTOCOL)
    )
    attributes: dict[str, AttributeValue] = {}
    for key in ("is_moving", "odometer", "event", "uuid"):
        if key in location:
            attributes[key] = common.scalar(location[key])
    if "is_charging" in battery:
        attributes["charge"] = common.scalar(battery["is_charging"])
    activity = _object(location.get("activity"), "activity")
    if "type" in activity:
        attributes["activity"] = common.scalar(activity["type"])
    common.flatten("extras", _object(location.get("extras"), "extras"), attributes)
    return Position(
        device_key=device,
        protocol=PROTOCOL,
        fix_time=common.parse_iso(stamp, PROTOCOL),
        lat=lat,
        lon=lon,
        speed_kmh=None if speed is None else speed * common.KMH_PER_MPS,
        course_deg=common.non_negative_or_none(
            common.json_number(coords.get("heading"), "heading", PROTOCOL)
        ),
        altitude_m=common.json_number(coords.get("altitude"), "altitude", PROTOCOL),
        accuracy_m=common.positive_or_none(
            common.json_number(coords.get("accuracy"), "accuracy", PROTOCOL)
        ),
        battery_pct=None if level is None else level * common.PERCENT,
        attributes=freeze(attributes),
    )


def _decode_json(frame: bytes, state: SessionState) -> list[Message]:
    body = common.load_json(frame, PROTOCOL)
    if not isinstance(body, Mapping):
        raise Malformed("JSON body is not an object", protocol=PROTOCOL, data=frame)
    device = body.get("device_id") or state.device_key
    if not isinstance(device, str) or not device:
        raise NotIdentified("no device_id", protocol=PROTOCOL, data=frame)
    state.device_key = device
    raw = body.get("location")
    locations = raw if isinstance(raw, list) else [raw]
    out: list[Message] = []
    try:
        for location in locations:
            out.append(_json_position(device, _object(location, "location")))
    except Malformed as exc:
        raise Malformed(exc.message, protocol=PROTOCOL, data=frame) from None
    return [*out, ACK]


def decode_frame(frame: bytes, state: SessionState) -> list[Message]:
    """A query string / form body, or a JSON body -> a position (or heartbeat) and the ack."""
    if frame.lstrip().startswith(b"{"):
        return _decode_json(frame, state)
    return _decode_query(frame, state)


def new_session(transport: Transport, device_key: str | None = None) -> Session:
    state = SessionState(transport=transport, device_key=device_key)
    return Session(PROTOCOL, SingleFrame(PROTOCOL, MAX_MESSAGE), decode_frame, state)


SPEC = ProtocolSpec(
    name=PROTOCOL,
    default_port=DEFAULT_PORT,
    transports=frozenset({"http"}),
    new_session=new_session,
    kind="phone",
)
