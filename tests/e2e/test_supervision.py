"""Issue 9: every task is supervised. Each task of a real ``trackgw serve`` process is killed
in turn (the test-only fault injector, ``supervision.fault_task``): ``/readyz`` fails naming
it, and the process exits non-zero (so systemd's ``Restart=on-failure`` restarts it)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .. import services

pytestmark = pytest.mark.e2e

TASKS = [
    "writer",
    "mqtt-ingest",
    "alerts",
    "entitlements",
    "directory",
    "tcp-gt06",
    "tcp-teltonika",
    "tcp-h02",
    "tcp-tk103",
    "tcp-watch",
    "tcp-auto",
    "udp-teltonika",
    "http-api",
    "http-osmand",
]


def readyz(port: int) -> tuple[int, dict[str, object]] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return None  # not answering (the HTTP task itself may be the one killed)


@pytest.mark.parametrize("task", TASKS)
def test_a_task_that_dies_fails_readiness_and_the_process_exits_non_zero(
    db_url: str, tmp_path: Path, task: str
) -> None:
    s = services.settings(
        db_url, supervision={"fault_task": task, "fault_after_s": 4.0, "fail_grace_s": 1.5}
    )
    log_path = tmp_path / "gateway.log"
    gw = services.GatewayProcess(s, str(log_path))
    try:
        gw.start()  # ready (200) before the fault
        answers: list[tuple[int, dict[str, object]] | None] = []
        deadline = time.monotonic() + 30
        while gw.alive() and time.monotonic() < deadline:
            answers.append(readyz(s.http.port))  # None: not answering
            time.sleep(0.05)
        assert not gw.alive(), "the gateway kept running with a dead task"
        assert gw.proc is not None
        code = gw.proc.wait(10)
    finally:
        gw.kill()
        services.clear_mqtt_session(s.mqtt.client_id)
    assert code == 1
    assert f"task {task!r} failed: FaultInjected" in log_path.read_text()
    assert answers[0] is not None
    assert answers[0][0] == 200
    if task == "http-api":
        # the task that serves /readyz is the one that died: it no longer answers at all
        assert answers[-1] is None
        return
    failed = [a[1] for a in answers if a is not None and a[0] == 503]
    assert failed, f"/readyz never failed: {answers[-3:]}"
    checks = failed[-1]["checks"]
    assert isinstance(checks, dict)
    assert task in str(checks["tasks"])
    assert "FaultInjected" in str(checks["tasks"])
