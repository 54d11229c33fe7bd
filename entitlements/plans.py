"""The plan catalogue: loads and validates ``plans.toml``, the one plan table.

>>> from entitlements.plans import default_catalogue
>>> gold = default_catalogue().get("gold")
>>> gold.limits().members_per_circle
5

A limit of ``None`` means unlimited. ``Plan.limits(trialing=True)`` gives the limits with
the plan's ``trial_excludes`` features switched off. Nothing outside ``plans.toml`` names a
plan's number; code asks the catalogue.

Prices: ``[plans.<name>.prices]`` gives the Subscription Fee per billing period in minor
units of the catalogue's ``currency`` for each cycle offered; ``[[plans.<name>.price_changes]]``
schedules a change: ``announced`` (when the notice goes out) and the new prices. Terms A: a
change "become[s] effective in the billing cycle following at least 30 days' notice", so a
change applies to a subscription from its first billing cycle starting at or after
``announced + 30 days`` (``Plan.price_for``, ``PriceChange.effective_from``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import CatalogueError, UnknownPlan

__all__ = [
    "CYCLES",
    "FREE",
    "PRICE_NOTICE",
    "Catalogue",
    "Limits",
    "Plan",
    "PriceChange",
    "default_catalogue",
    "load_catalogue",
]

#: The plan a circle falls back to when no subscription is in force.
FREE = "free"
#: Billing cycles a price may be given for (``subscription.Cycle`` values).
CYCLES = ("monthly", "annual", "monthly_annual_commitment")
#: "at least 30 days' notice" of a price change (terms A).
PRICE_NOTICE = timedelta(days=30)

#: Integer limits: None (absent in TOML) = unlimited.
_COUNT_KEYS = ("members_per_circle", "tags_per_account", "circles_per_account", "places_per_circle")
#: Features a trial may exclude: name -> value while excluded.
_TRIAL_FEATURES: Mapping[str, object] = {"history_replay": False, "airport_alerts": False}
_REQUIRED = {"rank": int, "history_days": int, "history_replay": bool, "airport_alerts": bool}
_KNOWN_KEYS = {*_COUNT_KEYS, *_REQUIRED, "trial_excludes", "prices", "price_changes"}


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceChange:
    """A scheduled change of a plan's prices, noticed at ``announced``."""

    announced: datetime
    prices: Mapping[str, int] = field(hash=False)

    @property
    def effective_from(self) -> datetime:
        """Billing cycles starting at or after this instant pay the new price."""
        return self.announced + PRICE_NOTICE


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """What a circle may do under a plan (None = unlimited)."""

    members_per_circle: int | None
    tags_per_account: int | None
    circles_per_account: int | None
    places_per_circle: int | None
    history_days: int
    history_replay: bool
    airport_alerts: bool

    def as_json(self) -> dict[str, int | bool | None]:
        """The short JSON shape printed by ``trackgw entitlements resolve``."""
        return {
            "members": self.members_per_circle,
            "tags": self.tags_per_account,
            "circles": self.circles_per_account,
            "places": self.places_per_circle,
            "history_days": self.history_days,
            "history_replay": self.history_replay,
            "airport_alerts": self.airport_alerts,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """One plan of the catalogue."""

    name: str
    rank: int
    full: Limits
    trial_excludes: frozenset[str]
    trial: Limits
    #: cycle -> Subscription Fee per billing period, minor units; empty for Free.
    prices: Mapping[str, int] = field(default_factory=dict, hash=False)
    #: scheduled changes, by ``announced``.
    price_changes: tuple[PriceChange, ...] = ()

    def limits(self, *, trialing: bool = False) -> Limits:
        """The plan's limits, with ``trial_excludes`` off while ``trialing``."""
        return self.trial if trialing else self.full

    def price_for(self, cycle: str, period_start: datetime) -> int | None:
        """The fee of a billing period of ``cycle`` starting at ``period_start``: the base
        price, changed by every change effective by then (``None``: not offered)."""
        price = self.prices.get(cycle)
        for change in self.price_changes:
            if change.effective_from <= period_start and cycle in change.prices:
                price = change.prices[cycle]
        return price


@dataclass(frozen=True, slots=True)
class Catalogue:
    """All plans by name; ``get`` raises ``UnknownPlan``."""

    plans: Mapping[str, Plan]
    #: ISO 4217 code of every price (``currency`` at the top of plans.toml).
    currency: str = "EUR"

    def get(self, name: str) -> Plan:
        try:
            return self.plans[name]
        except KeyError:
            raise UnknownPlan(name, self.names) from None

    @property
    def names(self) -> tuple[str, ...]:
        """Plan names, lowest rank first."""
        return tuple(p.name for p in sorted(self.plans.values(), key=lambda p: p.rank))

    @property
    def free(self) -> Plan:
        return self.plans[FREE]


def load_catalogue(text: str) -> Catalogue:
    """Parse and validate a plans.toml text; raises ``CatalogueError`` naming every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"plans.toml is not valid TOML: {exc}") from exc
    table = data.get("plans")
    if not isinstance(table, dict) or not table:
        raise CatalogueError("plans.toml has no [plans.<name>] tables")
    problems: list[str] = []
    plans: dict[str, Plan] = {}
    for name, raw in table.items():
        if not isinstance(raw, dict):
            problems.append(f"plans.{name} is not a table")
            continue
        plan = _parse_plan(name, raw, problems)
        if plan is not None:
            plans[name] = plan
    if FREE not in table:
        problems.append(f"plans.toml must define the fallback plan {FREE!r}")
    ranks = [p.rank for p in plans.values()]
    if len(set(ranks)) != len(ranks):
        problems.append(f"plan ranks must be distinct, got {sorted(ranks)!r}")
    currency = data.get("currency", "EUR")
    if not (isinstance(currency, str) and len(currency) == 3 and currency.isalpha()):
        problems.append(f"currency must be an ISO 4217 code such as 'EUR', got {currency!r}")
    if problems:
        raise CatalogueError("invalid plans.toml: " + "; ".join(problems))
    return Catalogue(plans, currency=str(currency).upper())


@cache
def default_catalogue() -> Catalogue:
    """The catalogue shipped in ``entitlements/plans.toml`` (loaded once)."""
    try:
        text = resources.files(__package__).joinpath("plans.toml").read_text(encoding="utf-8")
    except (OSError, TypeError, ValueError):  # a namespace-package import (editable install)
        text = Path(__file__).with_name("plans.toml").read_text(encoding="utf-8")
    return load_catalogue(text)


def _parse_plan(name: str, raw: Mapping[str, Any], problems: list[str]) -> Plan | None:
    before = len(problems)
    for key in sorted(set(raw) - _KNOWN_KEYS):
        problems.append(f"plans.{name}: unknown key {key!r}")
    for key, kind in _REQUIRED.items():
        value = raw.get(key)
        if type(value) is not kind:
            problems.append(f"plans.{name}.{key} must be {kind.__name__}, got {value!r}")
    counts: dict[str, int | None] = {}
    for key in _COUNT_KEYS:
        value = raw.get(key)
        if value is not None and (type(value) is not int or value < 0):
            problems.append(f"plans.{name}.{key} must be a count >= 0 or absent, got {value!r}")
        counts[key] = value
    days = raw.get("history_days")
    if type(days) is int and days < 1:
        problems.append(f"plans.{name}.history_days must be >= 1, got {days!r}")
    excludes = raw.get("trial_excludes", [])
    if not isinstance(excludes, list) or not all(e in _TRIAL_FEATURES for e in excludes):
        problems.append(
            f"plans.{name}.trial_excludes must list features among "
            f"{sorted(_TRIAL_FEATURES)!r}, got {excludes!r}"
        )
    prices = _prices(raw.get("prices", {}), f"plans.{name}.prices", problems)
    changes: list[PriceChange] = []
    raw_changes = raw.get("price_changes", [])
    if not isinstance(raw_changes, list):
        problems.append(f"plans.{name}.price_changes must be an array of tables")
        raw_changes = []
    for i, item in enumerate(raw_changes):
        where = f"plans.{name}.price_changes[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{where} must be a table")
            continue
        announced = item.get("announced")
        if not isinstance(announced, datetime) or announced.utcoffset() is None:
            problems.append(f"{where}.announced must be a TOML date-time with offset")
            continue
        new = _prices({k: v for k, v in item.items() if k != "announced"}, where, problems)
        for cycle in new:
            if cycle not in prices:
                problems.append(f"{where} changes {cycle!r}, which the plan has no price for")
        changes.append(PriceChange(announced=announced, prices=new))
    if len(problems) != before:
        return None
    full = Limits(
        members_per_circle=counts["members_per_circle"],
        tags_per_account=counts["tags_per_account"],
        circles_per_account=counts["circles_per_account"],
        places_per_circle=counts["places_per_circle"],
        history_days=raw["history_days"],
        history_replay=raw["history_replay"],
        airport_alerts=raw["airport_alerts"],
    )
    off: dict[str, Any] = {feature: _TRIAL_FEATURES[feature] for feature in excludes}
    return Plan(
        name=name,
        rank=raw["rank"],
        full=full,
        trial_excludes=frozenset(excludes),
        trial=replace(full, **off),
        prices=prices,
        price_changes=tuple(sorted(changes, key=lambda c: c.announced)),
    )


def _prices(raw: object, where: str, problems: list[str]) -> dict[str, int]:
    if not isinstance(raw, dict):
        problems.append(f"{where} must be a table of cycle = price")
        return {}
    out: dict[str, int] = {}
    for cycle, value in raw.items():
        if cycle not in CYCLES:
            problems.append(f"{where}: unknown cycle {cycle!r} (one of {', '.join(CYCLES)})")
        elif type(value) is not int or value <= 0:
            problems.append(f"{where}.{cycle} must be a price > 0 in minor units, got {value!r}")
        else:
            out[cycle] = value
    return out
