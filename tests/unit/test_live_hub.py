"""LiveHub: throttling that keeps the newest fix, late fixes, resumption, slow readers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from gateway.live.hub import LiveEvent, LiveHub

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def fix(n: int) -> tuple[datetime, dict[str, object]]:
    t = T0 + timedelta(seconds=n)
    return t, {"device": "d1", "n": n}


def drain(q: asyncio.Queue[LiveEvent]) -> list[LiveEvent]:
    out = []
    while not q.empty():
        out.append(q.get_nowait())
    return out


async def test_a_burst_sends_the_first_at_once_and_the_newest_after_the_interval() -> None:
    hub = LiveHub(interval_s=0.2)
    reader, backlog = hub.subscribe("c1", lambda: None)
    assert backlog is None  # a new reader needs a snapshot
    for n in range(10):
        hub.position({"c1": ("ann",)}, "d1", *fix(n))
    got = drain(reader.queue)
    assert [e.data["n"] for e in got] == [0]
    await asyncio.sleep(0.35)
    got = drain(reader.queue)
    assert [e.data["n"] for e in got] == [9]  # the newest of the burst, once
    await asyncio.sleep(0.3)
    assert drain(reader.queue) == []  # nothing repeated


async def test_a_late_fix_is_not_published() -> None:
    hub = LiveHub(interval_s=0.0)
    reader, _ = hub.subscribe("c1", lambda: None)
    hub.position({"c1": ("ann",)}, "d1", *fix(5))
    hub.position({"c1": ("ann",)}, "d1", *fix(3))  # older: stored, but not live
    hub.position({"c1": ("ann",)}, "d1", *fix(5))  # the same fix again
    hub.position({"c1": ("ann",)}, "d1", *fix(6))
    assert [e.data["n"] for e in drain(reader.queue)] == [5, 6]


async def test_devices_and_circles_are_throttled_apart() -> None:
    hub = LiveHub(interval_s=10.0)
    r1, _ = hub.subscribe("c1", lambda: None)
    r2, _ = hub.subscribe("c2", lambda: None)
    hub.position({"c1": (), "c2": ()}, "d1", *fix(1))
    hub.position({"c1": ("ann",)}, "d2", T0, {"device": "d2"})
    assert [e.data["device"] for e in drain(r1.queue)] == ["d1", "d2"]
    assert [e.data["device"] for e in drain(r2.queue)] == ["d1"]


async def test_alerts_are_never_throttled_and_ids_increase() -> None:
    hub = LiveHub(interval_s=10.0)
    reader, _ = hub.subscribe("c1", lambda: None)
    for n in range(5):
        hub.alert("c1", {"n": n})
    got = drain(reader.queue)
    assert [e.data["n"] for e in got] == [0, 1, 2, 3, 4]
    seqs = [int(e.id.split("-")[1]) for e in got]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 5


async def test_resume_from_last_event_id_gives_exactly_what_followed() -> None:
    hub = LiveHub(interval_s=0.0)
    reader, _ = hub.subscribe("c1", lambda: None)
    for n in range(6):
        hub.alert("c1", {"n": n})
    seen = drain(reader.queue)
    hub.unsubscribe(reader)
    hub.alert("c1", {"n": 6})  # while the reader was away
    hub.alert("c2", {"n": 100})  # another circle's: not for this reader
    again, backlog = hub.subscribe("c1", lambda: None, last_event_id=seen[2].id)
    assert backlog is not None
    assert [e.data["n"] for e in backlog] == [3, 4, 5, 6]
    hub.alert("c1", {"n": 7})
    assert [e.data["n"] for e in drain(again.queue)] == [7]


async def test_resume_is_refused_when_the_ring_lost_events_or_the_process_restarted() -> None:
    hub = LiveHub(interval_s=0.0, ring_size=4)
    reader, _ = hub.subscribe("c1", lambda: None)
    hub.alert("c1", {"n": 0})
    first = drain(reader.queue)[0]
    for n in range(1, 10):
        hub.alert("c1", {"n": n})
    _, backlog = hub.subscribe("c1", lambda: None, last_event_id=first.id)
    assert backlog is None  # events 1..5 fell out of the ring: a snapshot, not a gap
    other = LiveHub()
    _, backlog = other.subscribe("c1", lambda: None, last_event_id=first.id)
    assert backlog is None  # an id from another process start
    _, backlog = hub.subscribe("c1", lambda: None, last_event_id="garbage")
    assert backlog is None


async def test_a_reader_that_stops_reading_is_dropped_and_publishing_goes_on() -> None:
    hub = LiveHub(interval_s=0.0, reader_queue=8)
    dropped: list[str] = []
    slow, _ = hub.subscribe("c1", lambda: dropped.append("slow"))
    fast, _ = hub.subscribe("c1", lambda: dropped.append("fast"))
    for n in range(100):
        hub.alert("c1", {"n": n})
        drain(fast.queue)  # this one keeps up
    assert dropped == ["slow"]
    assert slow.dropped
    assert not fast.dropped
    assert hub.readers("c1") == 1


async def test_revoking_drops_only_that_members_readers() -> None:
    hub = LiveHub()
    ended: list[str] = []
    hub.subscribe("c1", lambda: ended.append("alice"), account="alice")
    hub.subscribe("c1", lambda: ended.append("bob"), account="bob")
    hub.drop_circle_readers("c1", keep=lambda r: r.account != "alice")
    assert ended == ["alice"]
    assert hub.readers("c1") == 1


async def test_taps_get_every_published_position_with_its_recipients() -> None:
    seen: list[tuple[str, str, tuple[str, ...]]] = []
    hub = LiveHub(interval_s=0.2, taps=(lambda c, e: seen.append((c, e.kind, e.recipients)),))
    hub.position({"c1": ("ann", "bob")}, "d1", *fix(1))
    hub.position({"c1": ("ann", "bob")}, "d1", *fix(2))  # held: within the interval
    hub.alert("c1", {"type": "enter"})
    assert seen == [("c1", "position", ("ann", "bob")), ("c1", "alert", ())]
    await asyncio.sleep(0.35)
    assert seen[-1] == ("c1", "position", ("ann", "bob"))  # the held fix, when it went out
