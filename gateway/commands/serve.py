"""``trackgw serve``: run the gateway until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from .. import logs
from ._common import run, settings


def _serve(args: argparse.Namespace) -> int:
    from ..runtime import run_gateway
    from ..supervisor import TaskFailed

    s = settings(args)
    logs.setup(s.log_level, s.log_format)
    try:
        asyncio.run(run_gateway(s, demo=args.demo))
    except TaskFailed as exc:
        # a part of the gateway died: non-zero, so that systemd/compose restart it
        print(f"trackgw: {exc}", file=sys.stderr)
        return 1
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("serve", help="run the gateway")
    parser.add_argument(
        "--demo", action="store_true", help="also provision demo devices and run a simulated phone"
    )
    parser.set_defaults(func=run(_serve))
