"""The topics a member's broker role is built from (gateway/broker/members.py): an id that
could widen a rule (MQTT wildcards, a level separator, $-topics, control characters) never
becomes a topic."""

from __future__ import annotations

import pytest

from gateway.broker.members import MemberTopics, circle_topics, device_topics


def test_a_phones_topics() -> None:
    assert device_topics("owntracks", "alice/phone") == (
        "owntracks/alice/phone",
        "owntracks/alice/phone/#",
    )
    assert device_topics("msgpack_phone", "alice/phone") == ("trackgw/phones/alice/phone",)
    assert device_topics("gt06", "alice/phone") == ()  # trackers do not publish over MQTT


@pytest.mark.parametrize(
    "unique_id",
    [
        "alice/+",
        "#/phone",
        "alice",
        "alice/phone/x",
        "/phone",
        "alice/",
        "$SYS/x",
        "a/b\x00",
        "a/\x1fb",
    ],
)
def test_an_id_that_could_widen_a_rule_gives_no_topic(unique_id: str) -> None:
    assert device_topics("owntracks", unique_id) == ()


def test_a_members_circle_topics() -> None:
    assert circle_topics("c1", "acct") == (
        "circles/c1/members/acct/alerts",
        "circles/c1/members/acct/live/+",
    )
    assert circle_topics("c+", "acct") == ()
    assert circle_topics("c1", "a/b") == ()
    assert circle_topics("c1", "#") == ()


def test_subscribing_also_allows_receiving_and_nothing_else() -> None:
    topics = MemberTopics(publish=("owntracks/a/p",), subscribe=("circles/c/members/a/alerts",))
    assert topics.acls() == {
        ("publishClientSend", "owntracks/a/p"),
        ("subscribeLiteral", "circles/c/members/a/alerts"),
        ("publishClientReceive", "circles/c/members/a/alerts"),
    }
