"""``trackgw entitlements resolve`` through gateway.cli.main."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import main

SUB: dict[str, Any] = {
    "id": "sub_1",
    "plan": "gold",
    "cycle": "monthly",
    "started_at": "2026-01-01T00:00:00Z",
    "trial_end": None,
    "current_period_end": "2026-02-01T00:00:00Z",
    "cancel_at_period_end": True,
    "commitment_end": None,
    "payment_failed_at": None,
    "withdrawn_at": None,
    "suspended_at": None,
    "trial_revoked_at": None,
    "payer": "fp",
    "consumer_region": "EU",
}


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], doc: object, when: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "subs.json"
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    code = main(["entitlements", "resolve", "--file", str(path), "--at", when])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_resolve_prints_entitlement(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        tmp_path, capsys, {"circle": "c1", "subscriptions": [SUB]}, "2026-01-15T00:00:00Z"
    )
    assert code == 0
    assert json.loads(out) == {
        "circle": "c1",
        "plan": "gold",
        "subscription": "sub_1",
        "status": "cancelling",
        "valid_until": "2026-02-01T00:00:00Z",
        "limits": {
            "members": 5,
            "tags": None,
            "circles": 3,
            "places": 10,
            "history_days": 30,
            "history_replay": True,
            "airport_alerts": False,
        },
    }


def test_resolve_free_at_period_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        tmp_path, capsys, {"circle": "c1", "subscriptions": [SUB]}, "2026-02-01T00:00:00Z"
    )
    doc = json.loads(out)
    assert code == 0
    assert (doc["plan"], doc["status"], doc["subscription"]) == ("free", "free", None)
    assert doc["valid_until"] is None
    assert doc["limits"]["members"] == 2


@pytest.mark.parametrize(
    ("doc", "when", "message"),
    [
        ({"circle": "c1", "subscriptions": [SUB]}, "2026-01-15", "no UTC offset"),
        ("{broken", "2026-01-15T00:00:00Z", "is not JSON"),
        (
            {"circle": "c1", "subscriptions": [dict(SUB, cycle="weekly")]},
            "2026-01-15T00:00:00Z",
            "unknown cycle 'weekly'",
        ),
    ],
)
def test_bad_input_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], doc: object, when: str, message: str
) -> None:
    code, out, err = run(tmp_path, capsys, doc, when)
    assert code == 2
    assert out == ""
    assert message in err


def test_missing_file_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "entitlements",
            "resolve",
            "--file",
            str(tmp_path / "no.json"),
            "--at",
            "2026-01-15T00:00:00Z",
        ]
    )
    assert code == 2
    assert "cannot read" in capsys.readouterr().err
