"""OwnTracks JSON payloads over MQTT (``owntracks/<user>/<device>[/...]``) and HTTP mode.

Source: the OwnTracks booklet, "JSON" (https://owntracks.org/booklet/tech/json/) and "HTTP"
(https://owntracks.org/booklet/tech/http/). Every payload is one JSON object whose ``_type``
says what it is:

* ``location`` -> ``Position``: ``tst`` (epoch s), ``lat``, ``lon``, ``acc`` (m), ``alt``
  (m), ``vel`` (km/h), ``cog`` (degrees), ``batt`` (%), ``bs`` battery status, ``t``
  trigger, ``conn``, ``tid``, ``inregions``/``inrids``, ``SSID``/``BSSID``, ``vac`` (m),
  ``p`` (kPa), ``m`` monitoring mode, ``created_at``, ``topic``, ``poi``, ``tag``, ``rad``.
  The booklet says "``acc``, ``alt``, ``cog``, ``vac``, ``vel`` ... are only added if they
  are not zero": a missing or zero ``acc`` means accuracy unknown (``None``), never perfect.
* ``transition`` (enter/leave of a region the phone defined) -> ``DeviceInfo("transition")``;
  ``lwt``, ``waypoint``, ``waypoints`` (one per waypoint) and ``status`` -> ``DeviceInfo``.
* ``card``, ``cmd``, ``configuration``, ``steps``, ``beacon``, ``request`` and unknown types
  are ignored (no message). ``encrypted`` cannot be read without the key: ``UnsupportedMessage``.

Identity: MQTT sessions are created per topic with ``device_key`` preset to
``"<user>/<device>"``; over HTTP the listener presets it from ``X-Limit-U``/``X-Limit-D`` (or
the URL path). The payload's own ``tid``/``topic`` are never trusted for identity.
Replies: none over MQTT (the PUBACK, sent after commit, is the ack); over HTTP the JSON
array ``[]`` with ``acks_data=True`` (booklet: "it will typically return an empty JSON
payload array").
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from . import _common as common
from .base import ProtocolSpec, Session, SessionState, SingleFrame, Transport
from .errors import Malformed, NotIdentified, UnsupportedMessage
from .model import AttributeValue, DeviceInfo, Message, Position, Reply, freeze

PROTOCOL = "owntracks"
#: Largest payload accepted (a ``waypoints`` export is the biggest; locations are ~300 B).
MAX_MESSAGE = 256 * 1024
HTTP_ACK = Reply(data=b"[]", acks_data=True)
#: ``bs``: "Battery Status 0=unknown, 1=unplugged, 2=charging, 3=full".
BATTERY_STATUS = {1: "unplugged", 2: "charging", 3: "full"}
#: Location elements mapped onto Position fields (the rest become attributes).
MAPPED = frozenset({"_type", "tst", "lat", "lon", "acc", "alt", "vel", "cog", "batt", "bs"})
#: Types the apps publish that carry nothing for the gateway.
IGNORED = frozenset({"card", "cmd", "configuration", "steps", "beacon", "request"})
#: ``owntracks``, user, device: the parts of a publish topic that name the device.
TOPIC_PARTS = 3


def _number(payload: Mapping[str, object], key: str) -> float | None:
    return common.json_number(payload.get(key), key, PROTOCOL)


def _epoch(payload: Mapping[str, object], key: str) -> datetime:
    value = _number(payload, key)
    if value is None:
        raise Malformed(f"{key} missing", protocol=PROTOCOL)
    return common.from_epoch(value, PROTOCOL)


def _attributes(payload: Mapping[str, object], skip: frozenset[str]) -> dict[str, AttributeValue]:
    out: dict[str, AttributeValue] = {}
    common.flatten("", {k: v for k, v in payload.items() if k not in skip}, out)
    return out


def _location(device: str, payload: Mapping[str, object]) -> Position:
    lat, lon = _number(payload, "lat"), _number(payload, "lon")
    if lat is None or lon is None:
        raise Malformed("location without lat/lon", protocol=PROTOCOL)
    common.check_lat_lon(lat, lon, PROTOCOL)
    attributes = _attributes(payload, MAPPED)
    status = _number(payload, "bs")
    if status is not None:
        attributes["battery_status"] = BATTERY_STATUS.get(int(status), "unknown")
    return Position(
        device_key=device,
        protocol=PROTOCOL,
        fix_time=_epoch(payload, "tst"),
        lat=lat,
        lon=lon,
        speed_kmh=common.non_negative_or_none(_number(payload, "vel")),
        course_deg=common.non_negative_or_none(_number(payload, "cog")),
        altitude_m=_number(payload, "alt"),
        accuracy_m=common.positive_or_none(_number(payload, "acc")),
        battery_pct=common.non_negative_or_none(_number(payload, "batt")),
        attributes=freeze(attributes),
    )


def _info(device: str, kind: str, payload: Mapping[str, object], time_key: str) -> DeviceInfo:
    when = _epoch(payload, time_key) if payload.get(time_key) is not None else None
    return DeviceInfo(
        device_key=device,
        protocol=PROTOCOL,
        kind=kind,
        time=when,
        attributes=freeze(_attributes(payload, frozenset({"_type"}))),
    )


def _messages(device: str, kind: str, payload: Mapping[str, object]) -> list[Message]:
    if kind == "location":
        return [_location(device, payload)]
    if kind == "transition":
        return [_info(device, "transition", payload, "tst")]
    if kind in ("lwt", "waypoint", "status"):
        return [_info(device, kind, payload, "tst")]
    if kind == "waypoints":
        waypoints = payload.get("waypoints")
        if not isinstance(waypoints, list):
            raise Malformed("waypoints is not a list", protocol=PROTOCOL)
        return [
            _info(device, "waypoint", waypoint, "tst")
            for waypoint in waypoints
            if isinstance(waypoint, Mapping)
        ]
    if kind == "encrypted":
        raise UnsupportedMessage("encrypted payload (no key configured)", protocol=PROTOCOL)
    return []  # IGNORED and unknown types


def decode_frame(frame: bytes, state: SessionState) -> list[Message]:
    """One MQTT payload or HTTP body -> messages (plus ``[]`` over HTTP)."""
    payload = common.load_json(frame, PROTOCOL)
    if not isinstance(payload, Mapping):
        raise Malformed("payload is not a JSON object", protocol=PROTOCOL, data=frame)
    kind = payload.get("_type")
    if not isinstance(kind, str):
        raise Malformed("payload without _type", protocol=PROTOCOL, data=frame)
    device = state.device_key
    if not device:
        raise NotIdentified("no preset <user>/<device> key", protocol=PROTOCOL, data=frame)
    try:
        out = _messages(device, kind, payload)
    except (Malformed, UnsupportedMessage) as exc:
        raise type(exc)(exc.message, protocol=PROTOCOL, data=frame) from None
    if state.transport == "http":
        out.append(HTTP_ACK)
    return out


def device_key_for_topic(topic: str) -> str | None:
    """``owntracks/<user>/<device>[/event|/waypoint|...]`` -> ``"<user>/<device>"``."""
    parts = topic.split("/")
    if len(parts) < TOPIC_PARTS or not parts[1] or not parts[2]:
        return None
    return f"{parts[1]}/{parts[2]}"


def new_session(transport: Transport, device_key: str | None = None) -> Session:
    state = SessionState(transport=transport, device_key=device_key)
    return Session(PROTOCOL, SingleFrame(PROTOCOL, MAX_MESSAGE), decode_frame, state)


SPEC = ProtocolSpec(
    name=PROTOCOL,
    default_port=None,
    transports=frozenset({"mqtt", "http"}),
    new_session=new_session,
    kind="phone",
    mqtt_topic="owntracks/+/+",
    http_path="/owntracks",
)
