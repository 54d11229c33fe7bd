"""Helpers shared by the text-tracker and phone decoders (tk103, watch, osmand, overland,
owntracks, msgpack_phone): checked number parsing, times, attribute flattening, the clock.

Everything raises ``Malformed`` (never ``ValueError``/``KeyError``) for bad peer data.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from itertools import accumulate

from .base import SessionState
from .errors import Malformed
from .model import AttributeValue

Clock = Callable[[], datetime]

#: ``SessionState.values`` key of the clock used when a message carries no time of its own
#: (a tracker alarm without a fix, an OsmAnd request without ``timestamp``). Tests set it.
CLOCK_KEY = "clock"

#: 1 international knot = 1.852 km/h (exact, by definition of the nautical mile).
KMH_PER_KNOT = 1.852
#: 1 m/s = 3.6 km/h.
KMH_PER_MPS = 3.6
#: A fraction 0..1 (phone battery APIs) times this is a percentage.
PERCENT = 100.0
#: Epoch values above this are milliseconds, not seconds (10**11 s is the year 5138).
EPOCH_MS_THRESHOLD = 100_000_000_000
#: Milliseconds per second.
MS_PER_S = 1000
#: Deepest nesting of JSON arrays/objects accepted (phone payloads nest 4 or 5 deep). Deeper
#: documents are refused before parsing, so neither the parser nor ``flatten`` can recurse
#: towards Python's recursion limit.
MAX_JSON_DEPTH = 32


def utc_now() -> datetime:
    return datetime.now(UTC)


def now(state: SessionState) -> datetime:
    """The session's clock (receive time) for messages that carry no time of their own."""
    clock = state.values.get(CLOCK_KEY)
    if callable(clock):
        value = clock()
        if isinstance(value, datetime):
            return value
    return utc_now()


def parse_float(text: str, what: str, protocol: str) -> float:
    """A finite float from ``text``; ``Malformed`` otherwise."""
    try:
        value = float(text)
    except ValueError:
        raise Malformed(f"bad {what}: {text!r}", protocol=protocol) from None
    if not math.isfinite(value):
        raise Malformed(f"bad {what}: {text!r}", protocol=protocol)
    return value


def optional_float(text: str, what: str, protocol: str) -> float | None:
    """``None`` for an empty field, else a finite float."""
    text = text.strip()
    return None if not text else parse_float(text, what, protocol)


def parse_int(text: str, what: str, protocol: str, *, base: int = 10) -> int:
    try:
        return int(text, base)
    except ValueError:
        raise Malformed(f"bad {what}: {text!r}", protocol=protocol) from None


def json_number(value: object, what: str, protocol: str) -> float | None:
    """A JSON number as float (``None`` when absent/null); bools and strings of numbers
    (older OwnTracks apps sent strings) are accepted, anything else is ``Malformed``."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise Malformed(f"bad {what}: {value!r}", protocol=protocol)
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # an integer past 1.8e308
            raise Malformed(f"bad {what}: number too large", protocol=protocol) from None
    elif isinstance(value, str):
        return None if not value.strip() else parse_float(value, what, protocol)
    else:
        raise Malformed(f"bad {what}: {value!r}", protocol=protocol)
    if not math.isfinite(number):
        raise Malformed(f"bad {what}: {value!r}", protocol=protocol)
    return number


def positive_or_none(value: float | None) -> float | None:
    """Phones report an unknown accuracy/speed/course as 0 or a negative number."""
    return value if value is not None and value > 0 else None


def non_negative_or_none(value: float | None) -> float | None:
    return value if value is not None and value >= 0 else None


def from_epoch(value: float, protocol: str) -> datetime:
    """Seconds or milliseconds since 1970 (told apart by magnitude) as aware UTC."""
    seconds = value / MS_PER_S if abs(value) >= EPOCH_MS_THRESHOLD else value
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise Malformed(f"timestamp out of range: {value!r}", protocol=protocol) from None


def parse_iso(text: str, protocol: str) -> datetime:
    """ISO 8601 (``Z``, ``+hh:mm`` or ``+hhmm`` offsets); a naive time is taken as UTC."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise Malformed(f"bad ISO 8601 time: {text!r}", protocol=protocol) from None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def check_lat_lon(lat: float, lon: float, protocol: str) -> None:
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise Malformed(f"coordinates out of range: {lat!r}, {lon!r}", protocol=protocol)


def scalar(value: object) -> AttributeValue:
    """A JSON value as an attribute value: scalars as they are, lists/objects as JSON text."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True, allow_nan=False)


def flatten(
    prefix: str, data: Mapping[str, object], out: dict[str, AttributeValue], depth: int = 0
) -> None:
    """Nested JSON objects as ``prefix.key`` attributes (lists as JSON text), at most
    ``MAX_JSON_DEPTH`` levels (``load_json`` already refused deeper documents)."""
    if depth > MAX_JSON_DEPTH:
        raise Malformed(f"attributes nested deeper than {MAX_JSON_DEPTH}", protocol="")
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            flatten(name, value, out, depth + 1)
        else:
            out[name] = scalar(value)


#: a JSON string (escapes included), to blank out before counting brackets
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
#: every byte but the four brackets, deleted by ``bytes.translate``
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_BRACKET_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def json_depth(frame: bytes) -> int:
    """The deepest nesting of arrays/objects in ``frame`` (brackets inside strings not
    counted), without parsing it."""
    brackets = _JSON_STRING.sub(b"", frame).translate(None, _NOT_BRACKETS)
    return max(accumulate(_BRACKET_STEP[b] for b in brackets), default=0)


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def load_json(frame: bytes, protocol: str) -> object:
    """Strict JSON: no ``NaN``/``Infinity`` (not JSON, but Python's parser takes them), at
    most ``MAX_JSON_DEPTH`` levels deep, integers of at most 4300 digits (Python's limit)."""
    # Cheap first: nesting is at most the number of opening brackets.
    if frame.count(b"[") + frame.count(b"{") > MAX_JSON_DEPTH:
        depth = json_depth(frame)
        if depth > MAX_JSON_DEPTH:
            raise Malformed(
                f"JSON nested {depth} deep, more than {MAX_JSON_DEPTH}",
                protocol=protocol,
                data=frame,
            )
    try:
        return json.loads(frame, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise Malformed(f"invalid JSON: {exc}", protocol=protocol, data=frame) from None


def ascii_text(frame: bytes, protocol: str) -> str:
    try:
        return frame.decode("ascii")
    except UnicodeDecodeError:
        raise Malformed("non-ASCII bytes in a text frame", protocol=protocol, data=frame) from None
