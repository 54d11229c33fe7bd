"""Session set-up: a fresh test database on the project's TimescaleDB, migrated."""

from __future__ import annotations

import os

import psycopg
import pytest

from gateway.store import migrate

from . import services


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        f"trackgw services: TimescaleDB 127.0.0.1:{services.PG_PORT},"
        f" Mosquitto 127.0.0.1:{services.MQTT_PORT}, CI={os.environ.get('CI', '')}"
    ]


@pytest.fixture(scope="session")
def db_url() -> str:
    """A new database for this run (dropped and re-created), with every migration applied."""
    try:
        with psycopg.connect(services.ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"drop database if exists {services.TEST_DB} with (force)")
            conn.execute(f"create database {services.TEST_DB}")
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"the project's TimescaleDB is not reachable ({exc}); start it with"
            " deploy/local/up (make test does)",
            pytrace=False,
        )
    migrate.migrate(services.TEST_URL)
    return services.TEST_URL
