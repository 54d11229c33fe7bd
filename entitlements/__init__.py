"""trackgw entitlements: plan catalogue, subscription lifecycle, effective entitlement, snapshot.

Pure: no sockets, no database, no logging. The gateway loads rows, calls these, swaps
snapshots. Modules: ``plans`` (plans.toml), ``subscription`` (records, SUBS.json),
``lifecycle`` (status tables, transitions), ``effective`` (resolve, timeline, selections),
``rows`` + ``snapshot`` (hot-path decisions), ``stripe`` (webhooks), ``errors``.
"""

from .effective import Entitlement, resolve, timeline
from .errors import (
    EntitlementError,
    InvalidSubscription,
    LimitExceeded,
    TrialRefused,
    UnknownPlan,
)
from .lifecycle import Status, check_trial, status_at
from .plans import Catalogue, Limits, Plan, default_catalogue
from .rows import AccountRow, AccountState, CircleRow, DeviceKind, DeviceRow, IngestDecision
from .snapshot import Snapshot, build_snapshot
from .subscription import Cycle, Subscription, load_subscriptions

__all__ = [
    "AccountRow",
    "AccountState",
    "Catalogue",
    "CircleRow",
    "Cycle",
    "DeviceKind",
    "DeviceRow",
    "Entitlement",
    "EntitlementError",
    "IngestDecision",
    "InvalidSubscription",
    "LimitExceeded",
    "Limits",
    "Plan",
    "Snapshot",
    "Status",
    "Subscription",
    "TrialRefused",
    "UnknownPlan",
    "build_snapshot",
    "check_trial",
    "default_catalogue",
    "load_subscriptions",
    "resolve",
    "status_at",
    "timeline",
]
