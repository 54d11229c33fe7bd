"""Confirming a transition before it is told: how many fixes, or how long, it takes.

A single confident fix on the wrong side of a fence is not yet a transition: phones
indoors see multipath (a reported 15 m accuracy can be 50 m off) and a phone at home
would otherwise "leave" and "come back" every few minutes. So a change of side is
*pending* until it is confirmed, by whichever of two rules comes first:

- **by fixes**: ``*_fixes`` consecutive observations on the new side (fixes that
  straddle the edge or are too coarse are not observations and neither count nor
  break the run; one observation on the old side cancels it);
- **by time**: ``*_s`` seconds after the first observation on the new side, with none
  on the old side. This is how a device that stops reporting (phone asleep, tag out of
  coverage) still gets its transition: ``geofence.engine.confirm_due`` confirms what is
  due at a given instant; the engine does the same when a later fix arrives after
  the due instant, so a timer that runs more or less often changes nothing.

An enter is also never confirmed before the rules' ``dwell_s`` (a minimum stay; 0 by
default). A confirmed transition carries the instant it was decided: the fix that
completed the run, or the due instant; ``since`` keeps the first fix of the new side.

The defaults (:data:`DEFAULT_CONFIRM`), and why:

- phones report every ~30 s to a few minutes while moving, less when still, with
  multipath outliers that are usually single fixes and rarely two in a row;
- GPS tags report every 1-10 minutes;
- so an **exit** takes 3 consecutive outside fixes (two outliers in a row are
  absorbed; a walking phone is confirmed in 1-3 minutes) or 5 minutes outside (a
  tag at a 10-minute interval is confirmed 5 minutes after its first outside fix,
  not 20-30 minutes later; a phone that falls silent just after leaving too);
- an **enter** takes 2 consecutive inside fixes or 3 minutes inside: arrivals are
  less prone to false alarms (a fix has to land well inside, with margin), a car
  driving past rarely has two fixes inside a home-sized circle, and a phone that
  goes to sleep on arrival is told 3 minutes later.

Per place, GeoJSON ``properties`` may override any of the four numbers:
``confirm_enter_fixes``, ``confirm_enter_s``, ``confirm_exit_fixes``,
``confirm_exit_s`` (see :class:`PlaceConfirm`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from .errors import InvalidGeometry

__all__ = [
    "DEFAULT_CONFIRM",
    "IMMEDIATE",
    "MAX_CONFIRM_FIXES",
    "MAX_CONFIRM_S",
    "PROPERTY_KEYS",
    "Confirm",
    "PlaceConfirm",
]

#: Bounds of the settings: more would never confirm in practice.
MAX_CONFIRM_FIXES = 100
MAX_CONFIRM_S = 86_400.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Confirm:
    """How a change of side is confirmed (module docstring); ``1`` fix or ``0`` s: at once."""

    #: consecutive surely-inside fixes that confirm an enter.
    enter_fixes: int = 2
    #: seconds after the first surely-inside fix that confirm an enter.
    enter_s: float = 180.0
    #: consecutive surely-outside fixes that confirm an exit.
    exit_fixes: int = 3
    #: seconds after the first surely-outside fix that confirm an exit.
    exit_s: float = 300.0

    def __post_init__(self) -> None:
        for name in ("enter_fixes", "exit_fixes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, got {value!r}")
            if not 1 <= value <= MAX_CONFIRM_FIXES:
                raise ValueError(f"{name} must be in [1, {MAX_CONFIRM_FIXES}], got {value!r}")
        for name in ("enter_s", "exit_s"):
            value = getattr(self, name)
            if not (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and math.isfinite(value)
                and 0.0 <= value <= MAX_CONFIRM_S
            ):
                raise ValueError(f"{name} must be in [0, {MAX_CONFIRM_S:g}] s, got {value!r}")

    @property
    def enter_us(self) -> int:
        return round(self.enter_s * 1e6)

    @property
    def exit_us(self) -> int:
        return round(self.exit_s * 1e6)


#: The defaults shared by the gateway and ``trackgw geofence replay``.
DEFAULT_CONFIRM = Confirm()
#: No confirmation: the first fix on the new side decides (the behaviour before confirmation).
IMMEDIATE = Confirm(enter_fixes=1, enter_s=0.0, exit_fixes=1, exit_s=0.0)

#: GeoJSON property -> Confirm field.
PROPERTY_KEYS: Mapping[str, str] = {
    "confirm_enter_fixes": "enter_fixes",
    "confirm_enter_s": "enter_s",
    "confirm_exit_fixes": "exit_fixes",
    "confirm_exit_s": "exit_s",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaceConfirm:
    """One place's overrides of the global :class:`Confirm`; ``None`` keeps the global value."""

    enter_fixes: int | None = None
    enter_s: float | None = None
    exit_fixes: int | None = None
    exit_s: float | None = None

    def __post_init__(self) -> None:
        self.over(DEFAULT_CONFIRM)  # validates the values that are set

    def over(self, base: Confirm) -> Confirm:
        """``base`` with this place's values in place of its own."""
        changes = {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }
        return replace(base, **changes) if changes else base

    @classmethod
    def from_properties(cls, props: Mapping[str, Any]) -> PlaceConfirm | None:
        """The ``confirm_*`` GeoJSON properties; ``None`` when there are none.

        Raises:
            InvalidGeometry: a value of the wrong type or out of range (the feature is bad).
        """
        values: dict[str, Any] = {}
        for key, name in PROPERTY_KEYS.items():
            value = props.get(key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidGeometry(f"properties.{key} must be a number, got {value!r}")
            if name.endswith("_fixes"):
                if value != int(value):
                    raise InvalidGeometry(f"properties.{key} must be a whole number, got {value!r}")
                value = int(value)
            else:
                value = float(value)
            values[name] = value
        if not values:
            return None
        try:
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise InvalidGeometry(f"properties: {exc}") from exc
