"""``trackgw serve``: run the gateway until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from .. import logs
from ._common import run, settings


def _serve(args: argparse.Namespace) -> int:
    from ..runtime import run_gateway

    s = settings(args)
    logs.setup(s.log_level, s.log_format)
    asyncio.run(run_gateway(s, demo=args.demo))
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("serve", help="run the gateway")
    parser.add_argument(
        "--demo", action="store_true", help="also provision demo devices and run a simulated phone"
    )
    parser.set_defaults(func=run(_serve))
