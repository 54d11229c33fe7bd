"""What the commands share: settings from --config and the environment, a DB connection."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import psycopg

from .. import config


class CommandError(Exception):
    """A failure to report on stderr with exit code ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def settings(args: argparse.Namespace) -> config.Settings:
    try:
        return config.load(getattr(args, "config", None))
    except config.ConfigError as exc:
        raise CommandError(str(exc), 2) from exc


def connect(args: argparse.Namespace) -> psycopg.Connection[Any]:
    url = settings(args).database.url
    try:
        return psycopg.connect(url, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise CommandError(
            f"cannot reach the database at {url}: {str(exc).strip()}\n"
            "(start the local services with deploy/local/up)"
        ) from exc


def print_json(obj: Any) -> None:
    print(json.dumps(obj, default=str, sort_keys=False))


def run(func: Any) -> Any:
    """Wrap a handler: CommandError -> message on stderr and its exit code."""

    def handler(args: argparse.Namespace) -> int:
        try:
            code: int = func(args)
            return code
        except CommandError as exc:
            print(f"trackgw: {exc}", file=sys.stderr)
            return exc.code
        except psycopg.OperationalError as exc:
            print(
                f"trackgw: cannot reach the database: {str(exc).strip()}\n"
                "(start the local services with deploy/local/up)",
                file=sys.stderr,
            )
            return 1

    return handler
