"""Which members are told of an event, on which channels: the defaults and each member's
rules. Pure (no I/O): the outbox writer (``store.outbox``) applies it inside the transaction
that stores the event, so every channel is decided once, from the rules of that moment.

* No rule of the member's for the circle: the defaults, every safety event (``SAFETY_KINDS``)
  of every member and place, on MQTT, and by email when the member opted in.
* With rules: only what one of them matches (kinds, places, members, a local time window),
  on the union of the matching rules' channels. A rule is "tell me when ...": "only SOS at
  night" is one rule ``kinds={"alarm:sos"}, window=(22:00, 07:00)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CHANNELS = frozenset({"mqtt", "email"})

#: the device alarms members are told of (``alarm:<ALARM_KINDS name>``)
ALARM_KINDS = frozenset(
    f"alarm:{k}"
    for k in (
        "sos",
        "fall_down",
        "low_battery",
        "low_power",
        "power_cut",
        "removing",
        "tamper",
        "overspeed",
        "accident",
    )
)
PLACE_KINDS = frozenset({"enter", "exit"})
AIRPORT_KINDS = frozenset({"airport_arrival", "airport_departure", "flight_landed"})
#: derived by the gateway: a phone's reported battery level, the device watch
WATCH_KINDS = frozenset({"battery_low", "tracking_stopped", "back_online"})
#: what the defaults notify: everything safety-related
SAFETY_KINDS = ALARM_KINDS | PLACE_KINDS | AIRPORT_KINDS | WATCH_KINDS
#: what a rule may name
KNOWN_KINDS = SAFETY_KINDS


class InvalidRule(ValueError):
    """A rule that cannot be applied (an unknown kind, channel or time zone)."""


@dataclass(frozen=True, slots=True)
class Rule:
    kinds: frozenset[str] | None = None  #: None: any
    places: frozenset[str] | None = None  #: place ids; None: any (non-place events too)
    members: frozenset[str] | None = None  #: the accounts whose devices; None: any
    channels: frozenset[str] = frozenset({"mqtt"})
    window: tuple[time, time] | None = None  #: local start, end (start > end: overnight)
    tz: str = "UTC"

    def __post_init__(self) -> None:
        if self.kinds is not None and not self.kinds <= KNOWN_KINDS:
            raise InvalidRule(f"unknown event kinds: {sorted(self.kinds - KNOWN_KINDS)}")
        if not self.channels or not self.channels <= CHANNELS:
            raise InvalidRule(f"channels must be some of {sorted(CHANNELS)}")
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidRule(f"unknown time zone {self.tz!r}") from None

    def matches(self, event: Candidate) -> bool:
        if self.kinds is not None and event.kind not in self.kinds:
            return False
        if self.places is not None and (event.place is None or event.place not in self.places):
            return False
        if self.members is not None and (event.member is None or event.member not in self.members):
            return False
        if self.window is not None:
            local = event.time.astimezone(ZoneInfo(self.tz)).time()
            start, end = self.window
            inside = start <= local < end if start <= end else (local >= start or local < end)
            if not inside:
                return False
        return True


@dataclass(frozen=True, slots=True)
class Candidate:
    """An event as the rules see it."""

    kind: str
    time: datetime
    member: str | None  #: the account whose device it is
    place: str | None = None  #: the place id of an enter/exit


def channels_for(
    event: Candidate, rules: Iterable[Rule], *, email_opt_in: bool, has_email: bool
) -> frozenset[str]:
    """The channels one member is told ``event`` on (empty: not told)."""
    rules = tuple(rules)
    if not rules:
        if event.kind not in SAFETY_KINDS:
            return frozenset()
        chosen = {"mqtt", "email"} if email_opt_in else {"mqtt"}
    else:
        chosen = set()
        for rule in rules:
            if rule.matches(event):
                chosen |= rule.channels
    if not has_email:
        chosen.discard("email")
    return frozenset(chosen)
