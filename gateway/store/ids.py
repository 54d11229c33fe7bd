"""Identifiers that end up in MQTT topics, HTTP headers or file names: checked where they are
created (API, CLI, admin), so nothing downstream has to escape them.

Refused: empty or over 128 characters, MQTT wildcards and separators (``+``, ``#``, ``/``),
control characters (C0, DEL, C1, and the Unicode line/paragraph separators), whitespace at
either end, and the ``$`` prefix MQTT reserves for the broker. A device's own id may contain
``/`` only when its protocol uses the OwnTracks ``user/device`` form (see ``check_unique_id``).
"""

from __future__ import annotations

import re
import secrets

__all__ = ["InvalidId", "check_id", "check_unique_id", "new_id"]

MAX_LEN = 128

_FORBIDDEN = re.compile(r"[+#/\x00-\x1f\x7f-\x9f\u2028\u2029]")

#: protocols whose device id is OwnTracks' ``user/device`` pair (two topic levels)
_PAIRED = frozenset({"owntracks", "msgpack_phone"})


class InvalidId(ValueError):
    """An identifier that may not be used (the message says why)."""


def check_id(value: object, what: str = "id") -> str:
    if not isinstance(value, str):
        raise InvalidId(f"{what} must be a string")
    if not value or len(value) > MAX_LEN:
        raise InvalidId(f"{what} must be 1 to {MAX_LEN} characters")
    if value != value.strip():
        raise InvalidId(f"{what} must not start or end with whitespace")
    if value.startswith("$"):
        raise InvalidId(f"{what} must not start with '$'")
    bad = _FORBIDDEN.search(value)
    if bad is not None:
        raise InvalidId(f"{what} must not contain {bad.group()!r} (MQTT wildcards, '/', controls)")
    return value


def check_unique_id(protocol: str, value: object) -> str:
    """A device's own id; OwnTracks ids are ``user/device`` (each part a valid id)."""
    if protocol in _PAIRED and isinstance(value, str) and value.count("/") == 1:
        user, device = value.split("/")
        check_id(user, "unique_id (user part)")
        check_id(device, "unique_id (device part)")
        return value
    return check_id(value, "unique_id")


def new_id(prefix: str) -> str:
    """A fresh random id (``acc_…``, ``cir_…``): safe in topics, unguessable."""
    return f"{prefix}_{secrets.token_hex(8)}"
