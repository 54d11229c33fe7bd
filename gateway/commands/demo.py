"""``trackgw demo``: ``serve --demo``."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from .. import logs
from ._common import run, settings


def _demo(args: argparse.Namespace) -> int:
    from ..runtime import run_gateway

    s = settings(args)
    logs.setup(s.log_level, s.log_format)
    asyncio.run(run_gateway(s, demo=True))
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("demo", help="run the gateway with a simulated phone (serve --demo)")
    parser.set_defaults(func=run(_demo))
