"""The in-memory entitlement snapshot: immutable, versioned, O(1) hot-path decisions.

The gateway loads rows, builds a snapshot, and swaps the reference on change (NOTIFY)::

    snap = build_snapshot(
        version=7,                     # monotonic, e.g. a counter or the max(updated_at) seen
        built_at=now,                  # aware UTC
        circles=[CircleRow(circle_id="c1", owner_account_id="a1",
                           member_account_ids=("a1", "a2"),   # join order
                           place_ids=("p1", "p2", "p3"),       # creation order
                           entitlements=(...,))],              # Entitlement rows, see below
        accounts=[AccountRow(account_id="a1", state=AccountState.ACTIVE), ...],
        devices=[DeviceRow(device_id="d1", account_id="a1", kind=DeviceKind.TAG), ...],
    )                                  # devices in registration order
    snap.may_ingest("d1", now)

``CircleRow.entitlements`` are the circle's stored entitlement rows, each
``Entitlement.from_row(plan=, status=, subscription_id=, valid_from=, valid_until=)``; produce
them with ``entitlements.effective.timeline(subscriptions, since=now)`` (or pass
``circle_row_from_subscriptions``). Where no row covers an instant the circle is on Free.

Every decision takes ``now`` (aware UTC; pass ``datetime.now(UTC)``) and honours the
validity bounds: at build time each circle, device and account gets a piecewise-constant
answer over the instants where its rows change, so a period, grace, trial or commitment end
takes effect at that instant, between refreshes too. Bounds are half-open: at exactly
``valid_until`` the next row applies. ``now`` before ``built_at`` is answered as at ``built_at``.

Rules: a tag (not a phone) is ingested when its account is active and it is among the
account's first ``tags_per_account`` tags (registration order) under the best plan of the
circles where the account is an in-plan member (Free when none); its positions are shared
with each circle where its owner is an in-plan member and it is within that circle's tag
limit. Members past the member limit (join order) are outside the plan: their positions are
not shared with that circle and they get no alerts. Suspended or deleted accounts' devices are
not ingested; account deletion does not change any circle's entitlement.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from ._time import FAR_FUTURE, require_aware
from .effective import Entitlement, first_n, more
from .errors import LimitExceeded, UnknownEntity
from .lifecycle import Status
from .plans import FREE, Catalogue, default_catalogue
from .rows import (
    AccountRow,
    AccountState,
    CircleRow,
    DeviceKind,
    DeviceRow,
    HistoryWindow,
    IngestDecision,
    circle_row_from_subscriptions,
)

__all__ = [
    "AccountRow",
    "AccountState",
    "CircleRow",
    "DeviceKind",
    "DeviceRow",
    "HistoryWindow",
    "IngestDecision",
    "Snapshot",
    "build_snapshot",
    "circle_row_from_subscriptions",
]

T = TypeVar("T")
_U = TypeVar("_U")

_REFUSED_BY_STATE: Mapping[AccountState, IngestDecision | None] = {
    AccountState.ACTIVE: None,
    AccountState.SUSPENDED: IngestDecision.ACCOUNT_SUSPENDED,
    AccountState.DELETED: IngestDecision.ACCOUNT_DELETED,
}


@dataclass(frozen=True, slots=True)
class _Piecewise(Generic[T]):
    """``first`` until ``until``; then ``values[bisect_right(bounds, now)]``."""

    until: datetime
    first: T
    bounds: tuple[datetime, ...]
    values: tuple[T, ...]

    def at(self, now: datetime) -> T:
        if now < self.until:
            return self.first
        return self.values[bisect_right(self.bounds, now)]


def _piecewise(instants: Sequence[datetime], compute: Callable[[datetime], T]) -> _Piecewise[T]:
    """instants[0] is built_at; the rest are the change instants after it, sorted."""
    values = tuple(compute(t) for t in instants)
    bounds = tuple(instants[1:])
    return _Piecewise(bounds[0] if bounds else FAR_FUTURE, values[0], bounds, values)


@dataclass(frozen=True, slots=True)
class _CircleState:
    entitlement: Entitlement
    members: frozenset[str]
    places: frozenset[str]
    place_count: int


@dataclass(frozen=True, slots=True)
class _AccountState:
    circles_plan: str
    circles_allowed: int | None
    circles_owned: int
    tags_plan: str
    tags_allowed: int | None
    tags_owned: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Immutable answers for one version of the rows; build with ``build_snapshot``."""

    version: int
    built_at: datetime
    _circles: Mapping[str, _Piecewise[_CircleState]] = field(repr=False)
    _accounts: Mapping[str, _Piecewise[_AccountState]] = field(repr=False)
    _allowed: Mapping[str, _Piecewise[bool]] = field(repr=False)
    _decisions: Mapping[str, _Piecewise[IngestDecision]] = field(repr=False)
    _shared: Mapping[str, _Piecewise[frozenset[str]]] = field(repr=False)
    _changes: tuple[datetime, ...] = field(repr=False)

    # -- hot path ---------------------------------------------------------------------

    def may_ingest(self, device_id: str, now: datetime) -> bool:
        """Whether positions of ``device_id`` are ingested at ``now``."""
        p = self._allowed.get(device_id)
        if p is None:
            return False
        if now < p.until:
            return p.first
        return p.values[bisect_right(p.bounds, now)]

    def ingest_decision(self, device_id: str, now: datetime) -> IngestDecision:
        """``may_ingest`` with the reason (for metrics and limit notices)."""
        p = self._decisions.get(device_id)
        return IngestDecision.UNKNOWN_DEVICE if p is None else p.at(now)

    def shared_circles(self, device_id: str, now: datetime) -> frozenset[str]:
        """Circles that get the device's positions (and evaluate its places) at ``now``."""
        p = self._shared.get(device_id)
        return frozenset() if p is None else p.at(now)

    def alert_recipients(self, circle_id: str, now: datetime) -> frozenset[str]:
        """Account ids of the circle's in-plan members."""
        return self._circle(circle_id, now).members

    def is_place_active(self, circle_id: str, place_id: str, now: datetime) -> bool:
        return place_id in self._circle(circle_id, now).places

    def airport_alerts(self, circle_id: str, now: datetime) -> bool:
        return self._circle(circle_id, now).entitlement.limits.airport_alerts

    def history_window(self, circle_id: str, now: datetime) -> HistoryWindow:
        limits = self._circle(circle_id, now).entitlement.limits
        return HistoryWindow(limits.history_days, limits.history_replay)

    def entitlement(self, circle_id: str, now: datetime) -> Entitlement:
        return self._circle(circle_id, now).entitlement

    # -- limits on actions ------------------------------------------------------------

    def check_add_place(self, circle_id: str, now: datetime) -> None:
        """``LimitExceeded`` when the circle already has as many places as its plan allows."""
        state = self._circle(circle_id, now)
        allowed = state.entitlement.limits.places_per_circle
        if allowed is not None and state.place_count >= allowed:
            raise LimitExceeded(
                "places", state.entitlement.plan, allowed, state.place_count, holder=circle_id
            )

    def check_create_circle(self, account_id: str, now: datetime) -> None:
        """``LimitExceeded`` when the account owns as many circles as its best plan allows
        (the best plan among the circles it owns; Free when none)."""
        s = self._account(account_id, now)
        if s.circles_allowed is not None and s.circles_owned >= s.circles_allowed:
            raise LimitExceeded(
                "circles", s.circles_plan, s.circles_allowed, s.circles_owned, holder=account_id
            )

    def check_add_tag(self, account_id: str, now: datetime) -> None:
        """``LimitExceeded`` when the account has as many tags as its best plan tracks."""
        s = self._account(account_id, now)
        if s.tags_allowed is not None and s.tags_owned >= s.tags_allowed:
            raise LimitExceeded(
                "tags", s.tags_plan, s.tags_allowed, s.tags_owned, holder=account_id
            )

    def next_change(self, after: datetime) -> datetime | None:
        """The first instant after ``after`` at which some decision changes (or None)."""
        i = bisect_right(self._changes, after)
        return self._changes[i] if i < len(self._changes) else None

    def _circle(self, circle_id: str, now: datetime) -> _CircleState:
        p = self._circles.get(circle_id)
        if p is None:
            raise UnknownEntity(f"unknown circle {circle_id!r} (snapshot v{self.version})")
        return p.at(now)

    def _account(self, account_id: str, now: datetime) -> _AccountState:
        p = self._accounts.get(account_id)
        if p is None:
            raise UnknownEntity(f"unknown account {account_id!r} (snapshot v{self.version})")
        return p.at(now)


def build_snapshot(
    *,
    version: int,
    built_at: datetime,
    circles: Iterable[CircleRow],
    accounts: Iterable[AccountRow],
    devices: Iterable[DeviceRow],
    catalogue: Catalogue | None = None,
) -> Snapshot:
    """Precompute every decision over the instants where the rows change (see module doc).
    ``devices`` must come in registration order (it orders each account's tags)."""
    built_at = require_aware(built_at, "built_at")
    cat = catalogue or default_catalogue()
    free = cat.free.full
    circle_rows = {c.circle_id: c for c in circles}
    states = {a.account_id: a.state for a in accounts}
    member_of: defaultdict[str, list[str]] = defaultdict(list)
    owner_of: defaultdict[str, list[str]] = defaultdict(list)
    for c in circle_rows.values():
        owner_of[c.owner_account_id].append(c.circle_id)
        for account in dict.fromkeys(c.member_account_ids):
            member_of[account].append(c.circle_id)
    tags: defaultdict[str, list[str]] = defaultdict(list)
    device_rows = list(devices)
    for d in device_rows:
        if d.kind is DeviceKind.TAG:
            tags[d.account_id].append(d.device_id)
    tag_index = {tag: i for owned in tags.values() for i, tag in enumerate(owned)}

    change_at = {cid: _changes(c, built_at) for cid, c in circle_rows.items()}
    circle_pw = {
        cid: _piecewise([built_at, *change_at[cid]], _circle_state_at(c, cat))
        for cid, c in circle_rows.items()
    }

    def instants(circle_ids: Iterable[str]) -> list[datetime]:
        return [built_at, *sorted({t for cid in circle_ids for t in change_at[cid]})]

    def account_state_at(account: str) -> Callable[[datetime], _AccountState]:
        def compute(t: datetime) -> _AccountState:
            circles_plan, circles_allowed = FREE, free.circles_per_account
            for cid in owner_of[account]:
                ent = circle_pw[cid].at(t).entitlement
                best = more(circles_allowed, ent.limits.circles_per_account)
                if best != circles_allowed:
                    circles_plan, circles_allowed = ent.plan, best
            tags_plan, tags_allowed = FREE, free.tags_per_account
            for cid in member_of[account]:
                state = circle_pw[cid].at(t)
                best = more(tags_allowed, state.entitlement.limits.tags_per_account)
                if account in state.members and best != tags_allowed:
                    tags_plan, tags_allowed = state.entitlement.plan, best
            return _AccountState(
                circles_plan,
                circles_allowed,
                len(owner_of[account]),
                tags_plan,
                tags_allowed,
                len(tags[account]),
            )

        return compute

    account_ids = set(states) | set(owner_of) | set(member_of)
    account_pw = {
        a: _piecewise(instants({*owner_of[a], *member_of[a]}), account_state_at(a))
        for a in account_ids
    }

    def device_at(d: DeviceRow) -> Callable[[datetime], tuple[IngestDecision, frozenset[str]]]:
        index = tag_index.get(d.device_id)

        def within(limit: int | None) -> bool:
            return index is None or limit is None or index < limit

        def compute(t: datetime) -> tuple[IngestDecision, frozenset[str]]:
            state = states.get(d.account_id)
            refused = IngestDecision.UNKNOWN_ACCOUNT if state is None else _REFUSED_BY_STATE[state]
            if refused is None and not within(account_pw[d.account_id].at(t).tags_allowed):
                refused = IngestDecision.OVER_TAG_LIMIT
            if refused is not None:
                return refused, frozenset()
            shared = []
            for cid in member_of[d.account_id]:
                cs = circle_pw[cid].at(t)
                if d.account_id in cs.members and within(cs.entitlement.limits.tags_per_account):
                    shared.append(cid)
            return IngestDecision.ALLOWED, frozenset(shared)

        return compute

    allowed: dict[str, _Piecewise[bool]] = {}
    decisions: dict[str, _Piecewise[IngestDecision]] = {}
    shared: dict[str, _Piecewise[frozenset[str]]] = {}
    for d in device_rows:
        both = _piecewise(instants(member_of[d.account_id]), device_at(d))
        decisions[d.device_id] = _map(both, lambda v: v[0])
        allowed[d.device_id] = _map(both, lambda v: v[0] is IngestDecision.ALLOWED)
        shared[d.device_id] = _map(both, lambda v: v[1])
    return Snapshot(
        version,
        built_at,
        circle_pw,
        account_pw,
        allowed,
        decisions,
        shared,
        tuple(sorted({t for ts in change_at.values() for t in ts})),
    )


def _map(p: _Piecewise[T], f: Callable[[T], _U]) -> _Piecewise[_U]:
    values = tuple(f(v) for v in p.values)
    return _Piecewise(p.until, values[0], p.bounds, values)


def _changes(circle: CircleRow, built_at: datetime) -> tuple[datetime, ...]:
    bounds = {b for e in circle.entitlements for b in (e.valid_from, e.valid_until)}
    return tuple(sorted(b for b in bounds if b is not None and b > built_at))


def _circle_state_at(circle: CircleRow, cat: Catalogue) -> Callable[[datetime], _CircleState]:
    def compute(t: datetime) -> _CircleState:
        ent = next((e for e in circle.entitlements if e.covers(t)), None)
        if ent is None:
            ent = _free_gap(circle.entitlements, t, cat)
        limits = ent.limits
        members = dict.fromkeys(circle.member_account_ids)
        return _CircleState(
            ent,
            frozenset(first_n(tuple(members), limits.members_per_circle)),
            frozenset(first_n(circle.place_ids, limits.places_per_circle)),
            len(circle.place_ids),
        )

    return compute


def _free_gap(rows: Sequence[Entitlement], t: datetime, cat: Catalogue) -> Entitlement:
    """Free over the gap around ``t`` between stored rows."""
    before = [e.valid_until for e in rows if e.valid_until is not None and e.valid_until <= t]
    after = [e.valid_from for e in rows if e.valid_from is not None and e.valid_from > t]
    return Entitlement.from_row(
        plan=FREE,
        status=Status.FREE,
        subscription_id=None,
        valid_from=max(before, default=None),
        valid_until=min(after, default=None),
        catalogue=cat,
    )
