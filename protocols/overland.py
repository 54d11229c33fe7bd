"""Overland (iOS/Android GPS logger) HTTP batches.

Source: the Overland-iOS README, section "API" (https://github.com/aaronpk/Overland-iOS).
The app POSTs ``{"locations": [GeoJSON Feature, ...], "current": {...}, "trip": {...}}``;
each feature is a ``Point`` (``coordinates`` = ``[lon, lat]``) whose ``properties`` hold
``timestamp`` (ISO 8601), ``altitude`` (m), ``speed`` (m/s), ``course`` (degrees),
``horizontal_accuracy``/``vertical_accuracy`` (m; negative = invalid), ``motion`` (list),
``battery_state``, ``battery_level`` (0..1), ``wifi`` (SSID), ``device_id`` and, with
"include tracking stats", ``pauses``, ``activity``, ``desired_accuracy`` ... .

Identity: ``properties.device_id`` when not empty, else the session's preset device key
(the HTTP listener presets it from the URL's ``?device=`` or the access token).
``current`` repeats the newest queued point and is ignored (it arrives again in a later
batch); ``trip`` becomes a ``DeviceInfo(kind="trip")``. A feature that cannot be used is
reported as ``Rejected`` in place, and the batch is still acknowledged: the reply
``{"result":"ok"}`` makes the app delete the batch, so it is sent only once stored.
"""

from __future__ import annotations

from collections.abc import Mapping

from . import _common as common
from .base import ProtocolSpec, Session, SessionState, SingleFrame, Transport
from .errors import Malformed, NotIdentified
from .model import AttributeValue, DeviceInfo, Message, Position, Rejected, Reply, freeze

PROTOCOL = "overland"
#: Largest body accepted: the README puts a point at ~600 bytes and batches at up to 1000
#: points (~600 KB); 1 MiB bounds that.
MAX_MESSAGE = 1024 * 1024
#: Most features accepted in one batch.
MAX_LOCATIONS = 2000
ACK = Reply(data=b'{"result":"ok"}', acks_data=True)
#: Properties mapped onto Position fields; the others become attributes.
MAPPED = frozenset(
    {"timestamp", "altitude", "speed", "course", "horizontal_accuracy", "battery_level"}
)


def _object(value: object, what: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise Malformed(f"{what} is not an object", protocol=PROTOCOL)
    return value


def _device(properties: Mapping[str, object], state: SessionState) -> str:
    device = properties.get("device_id")
    if isinstance(device, str) and device:
        return device
    if state.device_key:
        return state.device_key
    raise NotIdentified("no device_id and no preset device key", protocol=PROTOCOL)


def _feature(feature: object, state: SessionState) -> Position | DeviceInfo:
    properties = _object(_object(feature, "feature").get("properties"), "properties")
    geometry = _object(_object(feature, "feature").get("geometry"), "geometry")
    coordinates = geometry.get("coordinates")
    if geometry.get("type") != "Point" or not isinstance(coordinates, list):
        raise Malformed("geometry is not a Point", protocol=PROTOCOL)
    if len(coordinates) < 2:  # GeoJSON: [lon, lat(, alt)]
        raise Malformed("Point without two coordinates", protocol=PROTOCOL)
    lon = common.json_number(coordinates[0], "longitude", PROTOCOL)
    lat = common.json_number(coordinates[1], "latitude", PROTOCOL)
    if lat is None or lon is None:
        raise Malformed("null coordinates", protocol=PROTOCOL)
    common.check_lat_lon(lat, lon, PROTOCOL)
    stamp = properties.get("timestamp")
    if not isinstance(stamp, str):
        raise Malformed(f"bad timestamp: {stamp!r}", protocol=PROTOCOL)
    device = _device(properties, state)
    attributes: dict[str, AttributeValue] = {}
    common.flatten("", {k: v for k, v in properties.items() if k not in MAPPED}, attributes)
    kind = properties.get("type")
    if isinstance(kind, str) and kind != "location":  # "visit" records and the like
        attributes.update(lat=lat, lon=lon)
        return DeviceInfo(
            device_key=device,
            protocol=PROTOCOL,
            kind=kind,
            time=common.parse_iso(stamp, PROTOCOL),
            attributes=freeze(attributes),
        )
    speed = common.non_negative_or_none(
        common.json_number(properties.get("speed"), "speed", PROTOCOL)
    )
    level = common.non_negative_or_none(
        common.json_number(properties.get("battery_level"), "battery_level", PROTOCOL)
    )
    return Position(
        device_key=device,
        protocol=PROTOCOL,
        fix_time=common.parse_iso(stamp, PROTOCOL),
        lat=lat,
        lon=lon,
        speed_kmh=None if speed is None else speed * common.KMH_PER_MPS,
        course_deg=common.non_negative_or_none(
            common.json_number(properties.get("course"), "course", PROTOCOL)
        ),
        altitude_m=common.json_number(properties.get("altitude"), "altitude", PROTOCOL),
        accuracy_m=common.positive_or_none(
            common.json_number(properties.get("horizontal_accuracy"), "accuracy", PROTOCOL)
        ),
        battery_pct=None if level is None else level * common.PERCENT,
        attributes=freeze(attributes),
    )


def _trip(trip: object, state: SessionState) -> DeviceInfo:
    attributes: dict[str, AttributeValue] = {}
    common.flatten("", _object(trip, "trip"), attributes)
    if not state.device_key:
        raise NotIdentified("trip without a device key", protocol=PROTOCOL)
    return DeviceInfo(
        device_key=state.device_key, protocol=PROTOCOL, kind="trip", attributes=freeze(attributes)
    )


def decode_frame(frame: bytes, state: SessionState) -> list[Message]:
    """One POSTed batch -> positions (and ``Rejected`` for unusable features), then the ack."""
    body = common.load_json(frame, PROTOCOL)
    if not isinstance(body, Mapping) or not isinstance(body.get("locations"), list):
        raise Malformed('body has no "locations" list', protocol=PROTOCOL, data=frame)
    features: list[object] = body["locations"]
    if len(features) > MAX_LOCATIONS:
        raise Malformed(f"{len(features)} locations in one batch", protocol=PROTOCOL, data=frame)
    out: list[Message] = []
    unidentified = 0
    for feature in features:
        try:
            message = _feature(feature, state)
        except (Malformed, NotIdentified) as exc:
            unidentified += isinstance(exc, NotIdentified)
            out.append(Rejected(error=exc))
            continue
        state.device_key = state.device_key or message.device_key
        out.append(message)
    if features and unidentified == len(features):
        # Nobody to attribute the batch to: no ack, so the app keeps its points.
        raise NotIdentified("no device_id and no preset device key", protocol=PROTOCOL)
    if body.get("trip") is not None:
        try:
            out.append(_trip(body["trip"], state))
        except (Malformed, NotIdentified) as exc:
            out.append(Rejected(error=exc))
    out.append(ACK)
    return out


def new_session(transport: Transport, device_key: str | None = None) -> Session:
    state = SessionState(transport=transport, device_key=device_key)
    return Session(PROTOCOL, SingleFrame(PROTOCOL, MAX_MESSAGE), decode_frame, state)


SPEC = ProtocolSpec(
    name=PROTOCOL,
    default_port=None,
    transports=frozenset({"http"}),
    new_session=new_session,
    kind="phone",
    http_path="/overland",
)
