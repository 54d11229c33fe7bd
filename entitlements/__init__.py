"""trackgw entitlements: plan catalogue, subscription lifecycle, effective entitlement, snapshot.

Pure: no sockets, no database, no logging. The gateway loads rows, calls these, swaps
snapshots. Modules: ``plans`` (plans.toml), ``subscription`` (records, SUBS.json),
``lifecycle`` (status tables, transitions), ``effective`` (resolve, timeline, selections),
``rows`` + ``snapshot`` (hot-path decisions), ``stripe`` (webhooks), ``notices`` (billing
notices due), ``errors``.
"""

from .effective import Entitlement, resolve, timeline
from .errors import (
    EntitlementError,
    InvalidSubscription,
    LimitExceeded,
    TrialRefused,
    UnknownPlan,
)
from .lifecycle import (
    Status,
    check_trial,
    check_trial_for,
    commitment_end_of,
    refuse_repeat_trial,
    status_at,
)
from .notices import Notice, NoticeKind, due_notices
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
    "Notice",
    "NoticeKind",
    "Plan",
    "Snapshot",
    "Status",
    "Subscription",
    "TrialRefused",
    "UnknownPlan",
    "build_snapshot",
    "check_trial",
    "check_trial_for",
    "commitment_end_of",
    "default_catalogue",
    "due_notices",
    "load_subscriptions",
    "refuse_repeat_trial",
    "resolve",
    "status_at",
    "timeline",
]
