"""Which members are told, on which channels: the defaults and the rules (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from gateway.notify.rules import Candidate, InvalidRule, Rule, channels_for

NOON = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
MIDNIGHT = datetime(2026, 6, 1, 23, 30, tzinfo=UTC)


def told(event: Candidate, *rules: Rule, opt_in: bool = False, email: bool = True) -> set[str]:
    return set(channels_for(event, rules, email_opt_in=opt_in, has_email=email))


def test_defaults_tell_everything_safety_related_and_email_only_when_opted_in() -> None:
    for kind in ("alarm:sos", "enter", "exit", "tracking_stopped", "battery_low"):
        assert told(Candidate(kind, NOON, "anna")) == {"mqtt"}
        assert told(Candidate(kind, NOON, "anna"), opt_in=True) == {"mqtt", "email"}
        assert told(Candidate(kind, NOON, "anna"), opt_in=True, email=False) == {"mqtt"}
    assert told(Candidate("alarm:vibration", NOON, "anna"), opt_in=True) == set()


def test_only_when_anna_leaves_school() -> None:
    rule = Rule(kinds=frozenset({"exit"}), places=frozenset({"7"}), members=frozenset({"anna"}))
    assert told(Candidate("exit", NOON, "anna", "7"), rule) == {"mqtt"}
    assert told(Candidate("enter", NOON, "anna", "7"), rule) == set()
    assert told(Candidate("exit", NOON, "anna", "8"), rule) == set()
    assert told(Candidate("exit", NOON, "ben", "7"), rule) == set()
    assert told(Candidate("alarm:sos", NOON, "anna"), rule) == set()


def test_only_sos_at_night_across_midnight_in_the_members_zone() -> None:
    night = Rule(
        kinds=frozenset({"alarm:sos"}),
        channels=frozenset({"mqtt", "email"}),
        window=(time(22, 0), time(7, 0)),
        tz="Europe/Berlin",
    )
    # 23:30 UTC is 01:30 in Berlin (summer): inside; 12:00 UTC is 14:00: outside
    assert told(Candidate("alarm:sos", MIDNIGHT, "anna"), night) == {"mqtt", "email"}
    assert told(Candidate("alarm:sos", NOON, "anna"), night) == set()
    assert told(Candidate("exit", MIDNIGHT, "anna", "7"), night) == set()
    # 20:30 UTC is 22:30 in Berlin: the window's start is inside
    evening = datetime(2026, 6, 1, 20, 0, tzinfo=UTC)
    assert told(Candidate("alarm:sos", evening, "anna"), night) == {"mqtt", "email"}


def test_rules_add_up_their_channels() -> None:
    sos_mail = Rule(kinds=frozenset({"alarm:sos"}), channels=frozenset({"email"}))
    everything = Rule()
    assert told(Candidate("alarm:sos", NOON, "a"), sos_mail, everything) == {"mqtt", "email"}
    assert told(Candidate("enter", NOON, "a", "1"), sos_mail, everything) == {"mqtt"}


@pytest.mark.parametrize(
    "bad",
    [
        {"kinds": frozenset({"sos"})},
        {"channels": frozenset({"sms"})},
        {"channels": frozenset()},
        {"tz": "Mars/Olympus"},
    ],
)
def test_invalid_rules_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidRule):
        Rule(**bad)  # type: ignore[arg-type]
