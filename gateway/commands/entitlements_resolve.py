"""``trackgw entitlements resolve --file SUBS.json --at TIME``: a circle's effective plan.

Reads SUBS.json (``entitlements.subscription.load_subscriptions``), resolves it with the
gateway's own code (``entitlements.effective.resolve``) and prints one JSON object::

    {"circle": "c1", "plan": "gold", "subscription": "sub_1", "status": "active",
     "valid_until": null, "limits": {"members": 5, "tags": null, "circles": 3, "places": 10,
     "history_days": 30, "history_replay": true, "airport_alerts": false}}

``null`` limits are unlimited; ``subscription`` is null and ``status`` "free" when nothing is
in force. TIME is ISO-8601 with ``Z`` or an offset. A bad file or time exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from entitlements.effective import resolve
from entitlements.errors import EntitlementError
from entitlements.subscription import load_subscriptions, parse_time

__all__ = ["register"]


def register(subparsers: Any) -> None:
    group = subparsers.add_parser(
        "entitlements", help="inspect plans and subscriptions", description=__doc__
    )
    sub = group.add_subparsers(dest="entitlements_command", metavar="SUBCOMMAND")
    sub.required = True
    parser = sub.add_parser(
        "resolve",
        help="print a circle's effective entitlement at a time",
        description="Resolve SUBS.json at TIME with the gateway's rules and print JSON.",
    )
    parser.add_argument("--file", required=True, metavar="SUBS.json", help="subscriptions file")
    parser.add_argument(
        "--at", required=True, metavar="TIME", help="ISO-8601 instant, e.g. 2026-01-31T12:00:00Z"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        at = parse_time(args.at)
    except ValueError as exc:
        print(f"trackgw entitlements resolve: bad --at: {exc}", file=sys.stderr)
        return 2
    try:
        with open(args.file, encoding="utf-8") as fh:
            doc = json.load(fh)
        circle = load_subscriptions(doc)
    except OSError as exc:
        print(f"trackgw entitlements resolve: cannot read {args.file!r}: {exc}", file=sys.stderr)
        return 2
    except json.JSONDecodeError as exc:
        print(f"trackgw entitlements resolve: {args.file!r} is not JSON: {exc}", file=sys.stderr)
        return 2
    except EntitlementError as exc:
        print(f"trackgw entitlements resolve: {args.file!r}: {exc}", file=sys.stderr)
        return 2
    entitlement = resolve(circle.subscriptions, at)
    print(json.dumps(entitlement.as_json(circle.circle_id)))
    return 0
