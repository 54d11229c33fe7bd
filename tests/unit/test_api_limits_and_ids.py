"""Token buckets (``gateway.api.ratelimit``) and identifier checks (``gateway.store.ids``)."""

from __future__ import annotations

import pytest

from gateway.api.ratelimit import Buckets, retry_after
from gateway.store.ids import InvalidId, check_id, check_unique_id, new_id


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_spends_its_burst_then_waits_for_the_refill() -> None:
    clock = Clock()
    b = Buckets(rate=0.5, burst=3, clock=clock)
    assert [b.take("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert b.take("k") == pytest.approx(2.0)  # one token back after 2 s at 0.5/s
    assert b.take("other") == 0.0  # keys are independent
    clock.now = 1.0
    assert b.wait_s("k") == pytest.approx(1.0)
    clock.now = 2.0
    assert b.take("k") == 0.0
    assert b.take("k") > 0
    clock.now = 1000.0
    assert [b.take("k") for _ in range(4)][:3] == [0.0] * 3  # refills only up to the burst
    assert retry_after(0.01) == "1"
    assert retry_after(2.2) == "3"


def test_buckets_keep_at_most_max_keys() -> None:
    b = Buckets(rate=1, burst=1, max_keys=10, clock=Clock())
    for i in range(100):
        b.take(f"k{i}")
    assert len(b._buckets) == 10
    assert b.take("k0") == 0.0  # evicted: a fresh bucket
    assert b.take("k99") > 0  # recent: still empty


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "a+b",
        "a#",
        "a/b",
        "tab\there",
        "nl\n",
        "nul\x00",
        "del\x7f",
        "c1\x85",
        "ls\u2028",
        " lead",
        "trail ",
        "$SYS",
        "x" * 129,
        42,
        None,
    ],
)
def test_ids_that_would_break_topics_or_headers_are_refused(bad: object) -> None:
    with pytest.raises(InvalidId):
        check_id(bad)


def test_good_ids_and_paired_phone_ids() -> None:
    assert check_id("864895030000001") == "864895030000001"
    assert check_id("Ünïcode-ok_1.2") == "Ünïcode-ok_1.2"
    assert check_unique_id("owntracks", "alice/phone") == "alice/phone"
    for bad in ("alice/ph+one", "alice/", "/phone", "a/b/c"):
        with pytest.raises(InvalidId):
            check_unique_id("owntracks", bad)
    with pytest.raises(InvalidId):
        check_unique_id("gt06", "alice/phone")
    made = new_id("acc")
    assert made.startswith("acc_")
    assert check_id(made) == made
    assert new_id("acc") != made
