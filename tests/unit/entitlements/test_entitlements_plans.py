"""The plan catalogue against the terms: one test per sentence, quoted with its file."""

from __future__ import annotations

import pytest

from entitlements.effective import in_plan_members, resolve
from entitlements.errors import CatalogueError, UnknownPlan
from entitlements.plans import Limits, default_catalogue, load_catalogue

from .entitlements_helpers import CUSTOMERTRACKR, DESIGN, LETSTRACK, T0, at, sub

CAT = default_catalogue()


def limits(name: str) -> Limits:
    return CAT.get(name).limits()


def test_free_plan_has_limits() -> None:
    """letstrack-billing-terms.txt: "Free Plan: Basic tracking features with limitations" """
    free = limits("free")
    assert None not in (
        free.members_per_circle,
        free.tags_per_account,
        free.circles_per_account,
        free.places_per_circle,
    )
    assert not free.history_replay
    assert not free.airport_alerts
    assert free.history_days == 1  # DESIGN.md: "no (live only, 24 h kept)"


def test_silver_adds_tag_support() -> None:
    """letstrack-billing-terms.txt: "Silver Plan: Enhanced tracking with additional tag support" """
    silver, free = limits("silver").tags_per_account, limits("free").tags_per_account
    assert silver is not None
    assert free is not None
    assert silver > free
    assert limits("silver").history_days == 7
    assert not limits("silver").history_replay


def test_gold_replay_and_unlimited_tags() -> None:
    """letstrack-billing-terms.txt: "Gold Plan: Advanced features including history replay and
    unlimited tags" """
    gold = limits("gold")
    assert gold.history_replay
    assert gold.history_days == 30
    assert gold.tags_per_account is None


def test_platinum_unlimited_circles_places_airports() -> None:
    """letstrack-billing-terms.txt: "Platinum Plan: Premium features with unlimited circles,
    places, and airport alerts" """
    p = limits("platinum")
    assert p.circles_per_account is None
    assert p.places_per_circle is None
    assert p.airport_alerts
    assert p.history_days == 365
    assert not any(limits(n).airport_alerts for n in ("free", "silver", "gold"))


def test_free_and_silver_two_members() -> None:
    """letstrack-billing-terms.txt: "Free Plan and Silver Plan: Up to 2 members" """
    assert limits("free").members_per_circle == 2
    assert limits("silver").members_per_circle == 2
    assert in_plan_members(("a", "b", "c"), limits("silver")) == ("a", "b")


def test_gold_five_members() -> None:
    """letstrack-billing-terms.txt: "Gold Plan: Up to 5 members" """
    assert limits("gold").members_per_circle == 5
    assert in_plan_members(tuple("abcdefg"), limits("gold")) == tuple("abcde")


def test_platinum_unlimited_members() -> None:
    """letstrack-billing-terms.txt: "Platinum Plan: Unlimited members" """
    assert limits("platinum").members_per_circle is None
    assert len(in_plan_members(tuple(range(500)), limits("platinum"))) == 500


def test_design_defaults_table() -> None:
    """DESIGN.md: "Our defaults where the terms give no number (configurable, documented)" """
    got = {
        n: (limits(n).tags_per_account, limits(n).circles_per_account, limits(n).places_per_circle)
        for n in CAT.names
    }
    assert got == {
        "free": (1, 1, 2),
        "silver": (3, 1, 5),
        "gold": (None, 3, 10),
        "platinum": (None, None, None),
    }


def test_rank_order() -> None:
    assert CAT.names == ("free", "silver", "gold", "platinum")


def test_unknown_plan_named() -> None:
    with pytest.raises(UnknownPlan, match=r"'diamond'.*free, silver, gold, platinum"):
        CAT.get("diamond")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "[plans.silver]\nrank=1\nhistory_days=7\nhistory_replay=false\nairport_alerts=false",
            "fallback plan 'free'",
        ),
        (
            "[plans.free]\nrank=0\nhistory_days=1\nhistory_replay=false\nairport_alerts=false\n"
            "members_per_circle=-1",
            "members_per_circle must be a count",
        ),
        (
            "[plans.free]\nrank=0\nhistory_days=1\nhistory_replay=false\nairport_alerts=false\n"
            "colour='red'",
            "unknown key 'colour'",
        ),
        (
            "[plans.free]\nrank=0\nhistory_days=1\nhistory_replay=false\nairport_alerts=false\n"
            "trial_excludes=['teleport']",
            "trial_excludes",
        ),
        ("[plans.free]\nrank='0'", "rank must be int"),
        ("not toml [", "not valid TOML"),
    ],
)
def test_catalogue_validation(text: str, problem: str) -> None:
    with pytest.raises(CatalogueError, match=problem):
        load_catalogue(text)


def test_one_circle_per_subscription() -> None:
    """letstrack-billing-terms.txt: "If you purchase a LetsTrack subscription, you are able to
    apply the features associated with that subscription to one Circle on your LetsTrack
    account." """
    s = sub(circle_id="c1")
    assert s.circle_id == "c1"
    assert resolve([s], at("2026-01-10T00:00:00Z")).plan == "gold"


def test_features_for_all_members_up_to_limit() -> None:
    """letstrack-billing-terms.txt: "Those features will be available for all Circle members in
    the Circle that you apply the subscription to, up to the maximum number of members allowed
    by your plan:" """
    ent = resolve([sub(plan="gold")], at("2026-01-10T00:00:00Z"))
    members = tuple(f"m{i}" for i in range(7))
    assert in_plan_members(members, ent.limits) == members[:5]


def test_one_member_purchase_enough() -> None:
    """letstrack-billing-terms.txt: "Only one Circle member needs to purchase and apply their
    subscription to a Circle." """
    ent = resolve([sub(payer="member_3_card")], at("2026-01-10T00:00:00Z"))
    assert in_plan_members(("owner", "m2", "member_3"), ent.limits) == ("owner", "m2", "member_3")


def test_multiple_subscriptions_not_additive() -> None:
    """letstrack-billing-terms.txt: "LetsTrack is not responsible if members purchase multiple
    subscriptions and apply them to the same Circle." """
    t = at("2026-01-10T00:00:00Z")
    two_gold = [sub(id="a"), sub(id="b")]
    ent = resolve(two_gold, t)
    assert ent.plan == "gold"
    assert ent.limits.members_per_circle == 5
    assert ent.subscription_id == "a"
    assert resolve([sub(id="s", plan="silver"), sub(id="p", plan="platinum")], t).plan == "platinum"


def test_plans_monthly_or_yearly() -> None:
    """customertrackr-terms.txt: "Subscription plans are available on a monthly or yearly
    billing cycle." """
    from entitlements.subscription import Cycle

    assert Cycle.parse("Yearly") is Cycle.ANNUAL
    assert Cycle.parse("monthly") is Cycle.MONTHLY
    assert CUSTOMERTRACKR
    assert LETSTRACK
    assert DESIGN
    assert T0
