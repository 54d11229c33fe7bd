"""``trackgw serve`` bound beyond loopback with a default secret exits non-zero before it
listens on anything, naming the setting (issue 9, safe defaults)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gateway import config

STRONG = {
    "TRACKGW_HTTP_ADMIN_TOKEN": "k2V9-pq81-zzT4",
    "TRACKGW_HTTP_STRIPE_WEBHOOK_SECRET": "whsec_9f8e7d6c5b4a",
    "TRACKGW_MQTT_PASSWORD": "Hq7-mW2-r8c",
    "TRACKGW_MQTT_ADMIN_PASSWORD": "Zu4-kX9-p2m",
}


@pytest.mark.parametrize(("dotted", "default"), config.SECRETS)
def test_serve_on_every_address_with_a_default_secret_refuses_to_start(
    dotted: str, default: str
) -> None:
    env_key = "TRACKGW_" + dotted.replace(".", "_").upper()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("TRACKGW_") or k.endswith("PORT")
    }
    env.update(STRONG)
    env.update({"TRACKGW_HTTP_HOST": "0.0.0.0", "TRACKGW_PORTS_HOST": "0.0.0.0"})
    env[env_key] = default
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2
    assert f"{dotted} is the built-in development default" in done.stderr
    assert env_key in done.stderr
    assert sum(s in done.stderr for s, _ in config.SECRETS) == 1  # only the weak one
