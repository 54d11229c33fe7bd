"""The pipeline's pure stages: the jump filter's re-anchoring and the intake's byte bound."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from gateway.config import FilterSettings
from gateway.pipeline.filters import Filters
from gateway.pipeline.intake import Envelope, Intake, IntakeClosed
from protocols.model import Position

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=3)


def fix(seconds: int, lat: float, lon: float) -> Position:
    return Position(
        device_key="d", protocol="test", fix_time=T0 + timedelta(seconds=seconds), lat=lat, lon=lon
    )


def test_one_wild_fix_is_dropped_and_the_track_goes_on() -> None:
    f = Filters(FilterSettings())
    assert f.check(1, fix(0, 52.52, 13.40), NOW) is None
    assert f.check(1, fix(10, -33.9, 151.2), NOW) == "jump"  # Sydney, 10 s later
    assert f.check(1, fix(20, 52.5201, 13.4001), NOW) is None  # back on the real track


def test_consistent_fixes_re_anchor_after_a_wild_anchor() -> None:
    """The stored anchor was wild (e.g. restored from latest_positions): the real fixes that
    follow agree with each other, so after three of them the filter follows them again."""
    f = Filters(FilterSettings(jump_reanchor_fixes=3))
    f.remember(1, T0, -33.9, 151.2)  # a wild fix that got stored
    real = [fix(60 * i, 52.52 + i * 1e-4, 13.40) for i in range(1, 8)]
    results = [f.check(1, p, NOW) for p in real]
    assert results[:2] == ["jump", "jump"]
    assert results[2:] == [None] * 5  # re-anchored on the third, then simply accepted


def test_inconsistent_wild_fixes_never_re_anchor() -> None:
    """Wild fixes that jump between each other too do not make a chain."""
    f = Filters(FilterSettings(jump_reanchor_fixes=3))
    assert f.check(1, fix(0, 52.52, 13.40), NOW) is None
    wild = [(-33.9, 151.2), (40.7, -74.0), (35.7, 139.7), (-33.9, 151.2), (40.7, -74.0)]
    results = [f.check(1, fix(10 * (i + 1), lat, lon), NOW) for i, (lat, lon) in enumerate(wild)]
    assert results == ["jump"] * 5
    assert f.check(1, fix(100, 52.5201, 13.4001), NOW) is None


def test_re_anchoring_can_be_set_to_one_fix() -> None:
    f = Filters(FilterSettings(jump_reanchor_fixes=1))
    assert f.check(1, fix(0, 52.52, 13.40), NOW) is None
    assert f.check(1, fix(10, -33.9, 151.2), NOW) is None


def _envelope(nbytes: int, positions: int = 1) -> Envelope:
    e = Envelope(positions=[(1, fix(i, 52.0, 13.0)) for i in range(positions)])
    e.add_raw(b"x" * nbytes)
    return e


async def test_the_intake_is_bounded_by_bytes_as_well_as_positions() -> None:
    intake = Intake(max_weight=1000, max_bytes=10_000)
    await intake.put(_envelope(6000))
    assert intake.bytes == 6000
    assert not intake.full
    blocked = asyncio.create_task(intake.put(_envelope(6000)))  # 12,000 bytes > 10,000
    await asyncio.sleep(0.05)
    assert not blocked.done()  # waits, though only 2 of 1000 positions would be queued
    assert intake.put_nowait(_envelope(6000)) is False
    taken = await intake.take(100, 0.0)
    intake.release(taken)
    await asyncio.wait_for(blocked, 1)
    assert intake.bytes == 6000


async def test_an_envelope_larger_than_the_bound_is_let_in_when_the_intake_is_empty() -> None:
    intake = Intake(max_weight=10, max_bytes=100)
    await asyncio.wait_for(intake.put(_envelope(1000)), 1)
    assert intake.full


async def test_a_closed_intake_raises_intake_closed_also_for_waiting_producers() -> None:
    intake = Intake(max_weight=1, max_bytes=100)
    await intake.put(_envelope(10))
    waiting = asyncio.create_task(intake.put(_envelope(10)))
    await asyncio.sleep(0.02)
    intake.close()
    with pytest.raises(IntakeClosed):
        await asyncio.wait_for(waiting, 1)
    with pytest.raises(IntakeClosed):
        await intake.put(_envelope(10))


def test_envelope_raw_of_maps_items_to_their_read() -> None:
    e = Envelope()
    e.positions.extend([(1, fix(0, 1, 1)), (1, fix(1, 1, 1))])
    e.add_raw(b"first")
    e.positions.append((1, fix(2, 1, 1)))
    e.add_raw(b"second")
    assert [e.raw_of("position", i) for i in range(3)] == [b"first", b"first", b"second"]
