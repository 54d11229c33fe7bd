"""End-to-end ingestion: simulated devices -> a real ``trackgw serve`` -> TimescaleDB.

Phases (each a fixed number of positions under a time cap; loopback only):

1. TCP at full speed: Teltonika trackers (many records per packet, many connections, each
   waiting for its ACK before the next packet, as real trackers do) plus GT06 tags streaming.
   Latency is send -> ACK received for Teltonika, i.e. send -> commit (ACKs follow commits).
2. Ceiling, right after phase 1 (the gateway idle): the bare store transaction
   (gateway.store.writer.write: COPY -> staging -> INSERT .. ON CONFLICT DO NOTHING,
   latest_positions upsert) fed back to back by this one process with rows pre-built before
   the gateway started, batches of the gateway's batch_max. The clock covers exactly the
   transactions. Gateway TCP / ceiling says how much of one writer's capacity it reaches.
3. TCP paced at half the rate phase 1 reached: p50/p99 send -> commit.
4. MQTT: OwnTracks phones publishing QoS 1. Throughput is measured by polling the database;
   latency from the gateway's trackgw_receive_to_commit_seconds histogram (broker -> commit).
5. MQTT backlog: phones publish while the gateway is stopped, then it starts and drains. The
   rate comes from the gateway's own trackgw_positions_stored_total counter, sampled while it
   drains: rows committed between two samples / the time between them (start-up excluded,
   and never more than the rows over the real drain time).
6. Baseline, same run, gateway stopped: a naive server (decode, then one autocommit INSERT
   per position, then the ACK; one database connection per device connection) fed by as many
   Teltonika clients as phase 1 used; and the same with one tracker on one connection.

Uses its own database (``trackgw_bench``, dropped at the end unless --keep). Prints figures;
never asserts. Run from the project root: ``.venv/bin/python bench/e2e_bench.py --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import logging
import math
import os
import random
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.store import migrate  # noqa: E402
from gateway.store import writer as store_writer  # noqa: E402
from protocols import registry  # noqa: E402
from protocols import simulate as sim  # noqa: E402
from protocols.model import Position, Reply  # noqa: E402
from tests import services  # noqa: E402

DB = "trackgw_bench"
URL = f"postgresql://trackgw@127.0.0.1:{services.PG_PORT}/{DB}"
PHONE_USERS = ("alice", "bob")


@dataclass
class Result:
    name: str
    positions: int
    seconds: float
    latencies_s: list[float] = dataclasses.field(default_factory=list)
    note: str = ""

    @property
    def rate(self) -> float:
        return self.positions / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        text = f"{self.name:<34} {self.positions:>8} pos in {self.seconds:6.2f} s"
        text += f" = {self.rate:>9.0f}/s"
        if self.latencies_s:
            p50, p99 = percentile(self.latencies_s, 50), percentile(self.latencies_s, 99)
            text += f"   p50 {p50 * 1000:6.1f} ms  p99 {p99 * 1000:6.1f} ms"
        return text + (f"   {self.note}" if self.note else "")


def ratio(a: float, b: float, unit: str, digits: int = 0) -> str:
    return f"{a / b:.{digits}f}{unit}" if b else "n/a (nothing measured)"


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[k]


# -- database ------------------------------------------------------------------------------


def fresh_database() -> None:
    with psycopg.connect(services.ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"drop database if exists {DB} with (force)")
        conn.execute(f"create database {DB}")
    migrate.migrate(URL)


def drop_database() -> None:
    with psycopg.connect(services.ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"drop database if exists {DB} with (force)")


def provision(protocol: str, keys: Sequence[str]) -> dict[str, int]:
    kind = "phone" if protocol == "owntracks" else "tag"
    with psycopg.connect(URL, autocommit=True) as conn:
        # one account per device: a free account may track one tag (plans.toml)
        with conn.cursor() as cur:
            cur.executemany(
                "insert into accounts (id) values (%s) on conflict do nothing",
                [(f"bench-{k}",) for k in keys],
            )
            cur.executemany(
                "insert into devices (account_id, unique_id, protocol, kind)"
                " values (%s, %s, %s, %s)",
                [(f"bench-{k}", k, protocol, kind) for k in keys],
            )
        rows = conn.execute(
            "select unique_id, id from devices where unique_id = any(%s)", (list(keys),)
        ).fetchall()
    return {k: int(i) for k, i in rows}


def count(device_ids: Sequence[int]) -> int:
    with psycopg.connect(URL) as conn:
        row = conn.execute(
            "select count(*) from positions where device_id = any(%s)", (list(device_ids),)
        ).fetchone()
    return int(row[0]) if row else 0


# -- device traffic ------------------------------------------------------------------------


def track(n: int, start: datetime) -> list[sim.Fix]:
    rnd = random.Random(n)
    lat, lon = 48.0 + rnd.random(), 11.0 + rnd.random()
    return [
        sim.Fix(start + timedelta(seconds=i), lat + i * 1e-5, lon + i * 1e-5, 30, 45, 500)
        for i in range(n)
    ]


def imeis(n: int, prefix: str) -> list[str]:
    return [f"{prefix}{i:0{15 - len(prefix)}d}" for i in range(n)]


async def teltonika_tracker(
    port: int, imei: str, packets: list[bytes], records: int, interval_s: float, out: list[float]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(sim.teltonika_imei(imei))
    await writer.drain()
    if await reader.readexactly(1) != b"\x01":
        raise ConnectionError(f"{imei} refused")
    # paced trackers start at spread-out phases, as real fleets do (not all in one burst)
    next_at = time.perf_counter() + random.random() * interval_s
    for packet in packets:
        if interval_s:
            next_at += interval_s
            delay = next_at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        sent = time.perf_counter()
        writer.write(packet)
        accepted = struct.unpack(">I", await reader.readexactly(4))[0]
        out.append(time.perf_counter() - sent)
        if accepted != records:
            raise RuntimeError(f"{imei}: {accepted} of {records} acknowledged")
    writer.close()


def teltonika_load(
    trackers: int, total: int, records: int, start: datetime, prefix: str
) -> dict[str, list[bytes]]:
    per = max(records, total // trackers // records * records)
    load = {}
    for imei in imeis(trackers, prefix):
        fixes = track(per, start)
        load[imei] = [sim.teltonika_avl(fixes[i : i + records]) for i in range(0, per, records)]
    return load


async def within(cap_s: float, *aws: Awaitable[object]) -> bool:
    """Runs ``aws`` concurrently for at most ``cap_s``; cancels what is left at the cap.
    True if all finished. A bench reports what it got by the cap, it never fails on time."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    done, pending = await asyncio.wait(tasks, timeout=cap_s)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        task.result()  # a real error (refused, short ACK) still ends the bench
    return not pending


def capped(complete: bool, cap_s: float) -> str:
    return "" if complete else f"CAPPED at {cap_s:g} s: what was done by then"


async def run_teltonika(
    port: int,
    load: dict[str, list[bytes]],
    records: int,
    cap_s: float,
    interval_s: float = 0.0,
) -> tuple[float, list[float], bool]:
    """(seconds, send -> ACK per acknowledged packet, all sent within the cap)."""
    latencies: list[float] = []
    began = time.perf_counter()
    complete = await within(
        cap_s,
        *(
            teltonika_tracker(port, imei, packets, records, interval_s, latencies)
            for imei, packets in load.items()
        ),
    )
    return time.perf_counter() - began, latencies, complete


async def gt06_tag(port: int, imei: str, fixes: list[sim.Fix]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(sim.gt06_login(imei, 1))
    await writer.drain()
    await reader.readexactly(10)
    frames = [sim.gt06_location(f, (i + 2) & 0xFFFF) for i, f in enumerate(fixes)]
    for i in range(0, len(frames), 200):
        writer.write(b"".join(frames[i : i + 200]))
        await writer.drain()
    await asyncio.sleep(0)  # the tag stays connected until the bench is done
    drainer = asyncio.create_task(reader.read())
    _GT06_OPEN.append((writer, drainer))


_GT06_OPEN: list[tuple[asyncio.StreamWriter, asyncio.Task[bytes]]] = []


async def wait_for_count(device_ids: Sequence[int], want: int, cap_s: float) -> int:
    deadline = time.perf_counter() + cap_s
    got = 0
    while time.perf_counter() < deadline:
        got = await asyncio.to_thread(count, device_ids)
        if got >= want:
            break
        await asyncio.sleep(0.1)
    return got


# -- phases --------------------------------------------------------------------------------


async def tcp_phase(s: Any, args: argparse.Namespace) -> Result:
    gt06_total = args.tcp * args.gt06_share // 100
    tel_total = args.tcp - gt06_total
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=20)
    load = teltonika_load(args.trackers, tel_total, args.records, start, "35")
    provision("teltonika", list(load))
    tags = imeis(args.gt06, "86")
    per_tag = gt06_total // max(1, args.gt06)
    gt06_ids = list(provision("gt06", tags).values())
    tag_fixes = {imei: track(per_tag, start) for imei in tags}
    sums = [scrape_counter(s.http.port, f"trackgw_batch_positions_{k}") for k in ("sum", "count")]
    began = time.perf_counter()
    tel = asyncio.create_task(run_teltonika(s.ports.teltonika, load, args.records, args.cap))
    await asyncio.gather(*(gt06_tag(s.ports.gt06, i, f) for i, f in tag_fixes.items()))
    _elapsed, latencies, complete = await tel
    got = await wait_for_count(gt06_ids, per_tag * len(tags), args.cap)
    seconds = time.perf_counter() - began
    for writer, drainer in _GT06_OPEN:
        writer.close()
        drainer.cancel()
    _GT06_OPEN.clear()
    sent = len(latencies) * args.records + got  # acknowledged Teltonika + stored GT06
    after = [scrape_counter(s.http.port, f"trackgw_batch_positions_{k}") for k in ("sum", "count")]
    note = capped(complete, args.cap)
    if None not in sums and None not in after:
        rows, commits = (float(y or 0) - float(x or 0) for x, y in zip(sums, after, strict=True))
        batches = f"gateway batches: {commits:.0f}, mean {rows / max(commits, 1):.0f} rows"
        note = f"{note}; {batches}" if note else batches
    return Result("TCP (teltonika + gt06), full speed", sent, seconds, latencies, note=note)


async def paced_phase(s: Any, args: argparse.Namespace, rate: float) -> Result:
    target = args.paced_rate or rate / 2
    total = max(args.records * args.trackers, int(target * args.paced_seconds))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=40)
    load = teltonika_load(args.trackers, total, args.records, start, "36")
    provision("teltonika", list(load))
    interval = args.records / (target / args.trackers)
    seconds, latencies, complete = await run_teltonika(
        s.ports.teltonika, load, args.records, args.cap, interval
    )
    sent = len(latencies) * args.records
    what = "fixed" if args.paced_rate else "half max"
    return Result(
        f"TCP paced at {target:.0f}/s ({what})",
        sent,
        seconds,
        latencies,
        note=capped(complete, args.cap),
    )


def histogram(http_port: int, name: str) -> dict[float, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out = {}
    for m in re.finditer(rf'^{name}_bucket{{le="([^"]+)"}} (\S+)$', text, re.M):
        out[float(m.group(1))] = float(m.group(2))
    return out


def histogram_quantile(before: dict[float, float], after: dict[float, float], q: float) -> float:
    """Prometheus-style quantile of the observations between two scrapes (interpolated)."""
    bounds = sorted(after)
    cum = [after[b] - before.get(b, 0.0) for b in bounds]
    total = cum[-1]
    if total <= 0:
        return float("nan")
    rank = q * total
    lower, prev = 0.0, 0.0
    for bound, c in zip(bounds, cum, strict=True):
        if c >= rank:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - prev) / max(c - prev, 1e-9)
        lower, prev = bound, c
    return bounds[-2]


#: aiomqtt warns about every publish waiting for its PUBACK: that is the point here
_QUIET = logging.getLogger("bench.mqtt")
_QUIET.setLevel(logging.ERROR)


async def phone(user: str, key: str, fixes: list[sim.Fix], window: int, acked: list[int]) -> None:
    """Publishes ``fixes`` QoS 1, ``window`` in flight; ``acked`` counts what the broker took."""
    async with aiomqtt.Client(
        services.MQTT_HOST,
        services.MQTT_PORT,
        username=user,
        password=services.PHONE_USERS[user],
        identifier=f"bench-{key.replace('/', '-')}",
        max_inflight_messages=window,
        logger=_QUIET,
    ) as client:
        topic = f"owntracks/{key}"
        payloads = [sim.owntracks_location(f) for f in fixes]
        for i in range(0, len(payloads), window):
            chunk = payloads[i : i + window]
            await asyncio.gather(*(client.publish(topic, p, qos=1) for p in chunk))
            acked.append(len(chunk))


async def mqtt_phase(s: Any, args: argparse.Namespace) -> Result:
    """Phones publishing live: limited by how fast this process can publish QoS 1."""
    keys = [f"{PHONE_USERS[i % 2]}/live{i:03d}" for i in range(args.phones)]
    ids = list(provision("owntracks", keys).values())
    per = args.mqtt_live // args.phones
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=60)
    before = histogram(s.http.port, "trackgw_receive_to_commit_seconds")
    acked: list[int] = []
    began = time.perf_counter()
    complete = await within(
        args.cap,
        *(phone(k.split("/")[0], k, track(per, start), args.mqtt_window, acked) for k in keys),
    )
    published = time.perf_counter() - began
    got = await wait_for_count(ids, sum(acked), args.cap)
    seconds = time.perf_counter() - began
    after = histogram(s.http.port, "trackgw_receive_to_commit_seconds")
    p50 = histogram_quantile(before, after, 0.5)
    p99 = histogram_quantile(before, after, 0.99)
    note = (
        f"published in {published:.2f} s; gateway receive->commit p50 {p50 * 1000:.1f} ms"
        f" p99 {p99 * 1000:.1f} ms (histogram)"
    )
    if not complete:
        note = f"{capped(complete, args.cap)}; {note}"
    return Result("MQTT live publish, QoS 1", got, seconds, note=note)


def scrape_counter(http_port: int, name: str) -> float | None:
    """The value of an unlabelled counter on the gateway's /metrics (None: not serving yet)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=2) as resp:
            text = resp.read().decode()
    except OSError:  # refused while starting; URLError and resets are OSErrors too
        return None
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


@dataclass(frozen=True, slots=True)
class Sample:
    asked: float  #: perf_counter before the request
    answered: float  #: perf_counter after the answer
    answered_wall: float  #: time.time() after the answer (to compare with database times)
    value: float


class CounterSampler(threading.Thread):
    """Scrapes one gateway counter every ``interval_s`` until it reaches ``until`` (or the cap).

    A thread, not a task: it keeps sampling while the event loop waits on the gateway's start.
    """

    def __init__(
        self, http_port: int, name: str, until: float, cap_s: float, interval_s: float = 0.03
    ) -> None:
        super().__init__(name="counter-sampler", daemon=True)
        self.http_port, self.counter, self.until = http_port, name, until
        self.cap_s, self.interval_s = cap_s, interval_s
        self.samples: list[Sample] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        deadline = time.perf_counter() + self.cap_s
        while not self._stop_event.is_set() and time.perf_counter() < deadline:
            asked = time.perf_counter()
            value = scrape_counter(self.http_port, self.counter)
            if value is not None:
                self.samples.append(Sample(asked, time.perf_counter(), time.time(), value))
                if value >= self.until:
                    return
            self._stop_event.wait(self.interval_s)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(10)


def drain_window(samples: Sequence[Sample]) -> tuple[float, float, Sample | None, Sample | None]:
    """(rows, seconds) committed between the last sample before the counter first moved and
    the first sample that saw its final value (from the one's request to the other's answer),
    and those two samples. The counter steps once per batch, at its commit: the work on the
    first batch counted happened before the window, so this rate is the steady commit rate,
    up to one batch too high; the headline rate is ``first receive -> last commit``."""
    if not samples:
        return 0.0, 0.0, None, None
    first, final = samples[0].value, samples[-1].value
    i = max(k for k, x in enumerate(samples) if x.value == first)
    j = min(k for k, x in enumerate(samples) if x.value == final)
    if j <= i:
        return 0.0, 0.0, samples[i], samples[j]
    return final - first, samples[j].answered - samples[i].asked, samples[i], samples[j]


def first_received(device_ids: Sequence[int]) -> datetime | None:
    """When the gateway received the first of these devices' positions (``received_at`` is
    set by the gateway as it takes a message in)."""
    with psycopg.connect(URL) as conn:
        row = conn.execute(
            "select min(received_at) from positions where device_id = any(%s)",
            (list(device_ids),),
        ).fetchone()
    return row[0] if row else None


async def mqtt_backlog_phase(
    s: Any, gw: services.GatewayProcess, args: argparse.Namespace
) -> Result:
    """The gateway's own MQTT rate: phones publish while it is stopped (the broker keeps the
    QoS 1 messages for its persistent session), then it starts and drains the backlog.

    The rate is the messages over first receive -> last commit: the first from the database
    (the earliest ``received_at`` of the backlog, stamped by the gateway), the last from the
    gateway's commit counter, sampled from before the launch (the first sample that saw every
    message committed; its answer is no earlier than the commit). The start-up (launch ->
    first receive) is measured and left out; the drain time can only come out longer than
    the real one, so the rate can only come out lower, never above the messages over the
    real drain time. The commit counter's own steady rate is printed beside it."""
    keys = [f"{PHONE_USERS[i % 2]}/backlog{i:03d}" for i in range(args.phones)]
    ids = list(provision("owntracks", keys).values())
    per = args.mqtt // args.phones
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=100)
    gw.stop()
    acked: list[int] = []
    complete = await within(
        args.cap,
        *(phone(k.split("/")[0], k, track(per, start), args.mqtt_window, acked) for k in keys),
    )
    want = sum(acked)  # what the broker took for the gateway's session
    # the new process counts from zero: every row it commits is from this backlog
    sampler = CounterSampler(s.http.port, "trackgw_positions_stored_total", want, 30 + args.cap)
    sampler.start()
    launched, launched_wall = time.perf_counter(), time.time()
    starting = asyncio.ensure_future(asyncio.to_thread(gw.start))
    spy = None
    if args.profile_mqtt:
        # from the launch, not from /readyz: /readyz answers only once the intake has room,
        # that is near the end of the drain (a profile started there sees the gateway idle)
        while gw.proc is None and not starting.done():
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.5)  # the interpreter up, for py-spy to find it
        spy = profile(gw.pid, args.profile_seconds, args.profile_mqtt)
    await starting
    ready = time.perf_counter()
    await asyncio.to_thread(sampler.join, 30 + args.cap + 10)
    sampler.stop()
    got = await wait_for_count(ids, want, args.cap)
    first = await asyncio.to_thread(first_received, ids)
    if spy is not None:
        spy.wait(args.profile_seconds + 30)
    last = sampler.samples[-1] if sampler.samples else None
    notes = []
    seconds = 0.0
    if first is not None and last is not None and last.value >= want:
        seconds = last.answered_wall - first.timestamp()
        notes.append(
            f"first receive -> last commit; start-up (launch -> first receive)"
            f" {first.timestamp() - launched_wall:.2f} s, /readyz at {ready - launched:.2f} s,"
            f" last commit by {last.answered - launched:.2f} s"
        )
    elif last is not None:
        notes.append(f"the commit counter reached only {last.value:.0f} of {want} by the cap")
    rows, window, _, _ = drain_window(sampler.samples)
    gaps = [y.answered - x.answered for x, y in itertools.pairwise(sampler.samples)]
    if rows and window:
        spacing = f", ~{statistics.median(gaps) * 1000:.0f} ms apart" if gaps else ""
        # the gateway answers /metrics on its event loop: between batches while it drains
        notes.append(
            f"commit counter {rows / window:.0f}/s steady ({len(sampler.samples)} samples{spacing})"
        )
    if not complete:
        notes.append(f"publishing {capped(complete, args.cap)} ({want} messages)")
    if got < want:
        notes.append(f"ONLY {got} of {want} stored within the cap")
    return Result("MQTT backlog drained by gateway", got, seconds, note="; ".join(notes))


# -- the ceiling: the bare store transaction -----------------------------------------------


def ceiling_batches(
    devices: dict[str, int], load: dict[str, list[bytes]], batch_max: int
) -> list[store_writer.Batch]:
    """The load's positions decoded by the real decoder and turned into the writer's rows,
    interleaved packet by packet across the devices (as a batch at full speed holds them),
    cut into batches of ``batch_max``. All of it before the clock starts."""
    spec = registry.get("teltonika")
    received = datetime.now(UTC)
    per_device: list[list[list[store_writer.PositionRow]]] = []
    for imei, packets in load.items():
        session = spec.new_session("tcp", None)
        session.receive(sim.teltonika_imei(imei))
        per_device.append(
            [
                [
                    store_writer.position_row(devices[imei], m, received)
                    for m in session.receive(packet)
                    if isinstance(m, Position)
                ]
                for packet in packets
            ]
        )
    rows = [
        row
        for k in range(max(len(d) for d in per_device))
        for d in per_device
        if k < len(d)
        for row in d[k]
    ]
    cut = range(0, len(rows), batch_max)
    return [store_writer.Batch(positions=rows[i : i + batch_max]) for i in cut]


@dataclass(frozen=True, slots=True)
class CeilingLoad:
    batches: list[store_writer.Batch]
    batch_max: int
    devices: int


def ceiling_load(s: Any, args: argparse.Namespace) -> CeilingLoad:
    """Provision the ceiling's devices and build its rows: before the gateway starts, so that
    neither costs anything while it runs (new devices make it rebuild its snapshot)."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=30)
    load = teltonika_load(args.trackers, args.ceiling, args.records, start, "39")
    devices = provision("teltonika", list(load))
    batch_max = args.ceiling_batch or s.pipeline.batch_max
    return CeilingLoad(ceiling_batches(devices, load, batch_max), batch_max, len(load))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def ceiling_phase(load: CeilingLoad, gateway_pid: int) -> Result:
    """gateway.store.writer.write, back to back on one connection: what one writer can commit
    when decoding, routing, filtering and the devices cost nothing. Run right after the TCP
    phase (the gateway idle), so that both see the same shared machine as far as possible."""
    total = sum(len(b.positions) for b in load.batches)
    async with await psycopg.AsyncConnection.connect(URL, connect_timeout=5) as conn:
        await store_writer.prepare(conn)
        inserted = 0
        gateway_cpu = cpu_seconds(gateway_pid)
        began = time.perf_counter()
        for batch in load.batches:
            result = await store_writer.write(conn, batch)
            inserted += result.positions_inserted
        seconds = time.perf_counter() - began
        gateway_cpu = cpu_seconds(gateway_pid) - gateway_cpu
    note = (
        f"{len(load.batches)} transactions of up to {load.batch_max} rows, {load.devices}"
        f" devices; the gateway used {gateway_cpu:.2f} s CPU meanwhile"
    )
    if inserted != total:
        note += f"; {inserted} of {total} inserted"
    return Result("ceiling: bare store transaction", total, seconds, note=note)


# -- the naive baseline --------------------------------------------------------------------

_INSERT = (
    "insert into positions (device_id, fix_time, received_at, lat, lon, valid, speed_kmh,"
    " course_deg, altitude_m, accuracy_m, satellites, battery_pct, flags, attributes)"
    " values (%s, %s, now(), %s, %s, %s, %s, %s, %s, %s, %s, %s, 0, null)"
    " on conflict do nothing"
)


async def naive_server(devices: dict[str, int], connections: int) -> tuple[asyncio.Server, Any]:
    """Decode, then one autocommit INSERT per position, then the ACK: one database connection
    per device connection (opened before the clock starts, as the gateway's is)."""
    spec = registry.get("teltonika")
    pool: asyncio.Queue[psycopg.AsyncConnection[Any]] = asyncio.Queue()
    opened = await asyncio.gather(
        *(psycopg.AsyncConnection.connect(URL, autocommit=True) for _ in range(connections))
    )
    for conn in opened:
        pool.put_nowait(conn)
    handlers: set[asyncio.Task[Any]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = spec.new_session("tcp", None)
        task = asyncio.current_task()
        if task is not None:
            handlers.add(task)
        conn = await pool.get()
        try:
            while data := await reader.read(65536):
                for item in session.receive(data):
                    if isinstance(item, Position):
                        await conn.execute(
                            _INSERT,
                            (
                                devices[item.device_key],
                                item.fix_time,
                                item.lat,
                                item.lon,
                                item.valid,
                                item.speed_kmh,
                                item.course_deg,
                                item.altitude_m,
                                item.accuracy_m,
                                item.satellites,
                                item.battery_pct,
                            ),
                        )
                    elif isinstance(item, Reply):
                        writer.write(item.data)
        except asyncio.CancelledError:
            pass  # a capped run: close() ends the handlers still busy
        finally:
            pool.put_nowait(conn)
        writer.close()

    async def close() -> None:
        # handlers still busy (a capped run) go first: never close a connection in use
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        for conn in opened:
            await conn.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0), close


async def baseline_phase(args: argparse.Namespace, single: bool = False) -> Result:
    """The naive server with as many connections as the gateway run had trackers, or (single)
    one tracker on one connection: the kind of writer the issue's ~3,400 rows/s refers to."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=90 if single else 80)
    trackers = 1 if single else (args.baseline_connections or args.trackers)
    count = args.baseline_single if single else args.baseline
    load = teltonika_load(trackers, count, args.records, start, "38" if single else "37")
    devices = provision("teltonika", list(load))
    server, close = await naive_server(devices, trackers)
    port = server.sockets[0].getsockname()[1]
    try:
        seconds, latencies, complete = await run_teltonika(port, load, args.records, args.cap)
    finally:
        server.close()
        await close()
    sent = len(latencies) * args.records
    same = (
        "one tracker, one connection"
        if single
        else "as many as the TCP phase's trackers"
        if trackers == args.trackers
        else "--baseline-connections"
    )
    note = f"naive server: autocommit INSERT per position, {trackers} connections ({same})"
    if not complete:
        note = f"{capped(complete, args.cap)}; {note}"
    return Result(f"baseline: 1 INSERT/pos, {trackers} conns", sent, seconds, latencies, note=note)


# -- main ----------------------------------------------------------------------------------


def profile(pid: int, seconds: int, path: str) -> subprocess.Popen[bytes] | None:
    """py-spy on the gateway for the TCP phase (if py-spy is installed)."""
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        print("(py-spy not installed: pip install py-spy; no profile taken)")
        return None
    return subprocess.Popen(
        [
            str(spy),
            "record",
            "-p",
            str(pid),
            "-d",
            str(seconds),
            "-r",
            "200",
            "-f",
            "raw",
            "-o",
            path,
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def run(args: argparse.Namespace) -> None:
    fresh_database()
    s = services.settings(URL)
    s = dataclasses.replace(s, log_level="WARNING")
    log = Path(tempfile.gettempdir()) / f"trackgw-bench-{os.getpid()}.log"
    gw = services.GatewayProcess(s, str(log))
    results: list[Result] = []
    ceiling_rows = ceiling_load(s, args)
    try:
        gw.start()
        print(f"gateway pid {gw.pid} (log {log}); database {DB}", flush=True)
        spy = profile(gw.pid, args.profile_seconds, args.profile) if args.profile else None
        tcp = await tcp_phase(s, args)
        results.append(tcp)
        print(tcp.line(), flush=True)
        if spy is not None:
            spy.wait(args.profile_seconds + 30)
            print(f"profile of the TCP phase: {args.profile}")
        await asyncio.sleep(1)  # the gateway finishes its last batches and goes idle
        ceiling = await ceiling_phase(ceiling_rows, gw.pid)
        print(ceiling.line(), flush=True)
        paced = await paced_phase(s, args, tcp.rate)
        results.append(paced)
        print(paced.line(), flush=True)
        mqtt = await mqtt_phase(s, args)
        results.append(mqtt)
        print(mqtt.line(), flush=True)
        backlog = await mqtt_backlog_phase(s, gw, args)
        results.append(backlog)
        print(backlog.line(), flush=True)
    finally:
        if gw.proc is not None:
            gw.stop()
        services.clear_mqtt_session(s.mqtt.client_id)
    base = await baseline_phase(args)
    print(base.line(), flush=True)
    single = await baseline_phase(args, single=True)
    print(single.line(), flush=True)
    tcp = results[0]
    print()
    print(f"TCP  {tcp.rate:>9.0f} positions/s   (target >= 50000)")
    if len(results) > 3:
        print(
            f"MQTT {results[3].rate:>9.0f} positions/s drained by the gateway,"
            f" {results[2].rate:.0f}/s live (publisher-bound)   (target >= 20000)"
        )
    print(
        f"ceiling  {ceiling.rate:>7.0f} rows/s (bare store transaction, one process, pre-built"
        f" rows); gateway TCP / ceiling = {ratio(100 * tcp.rate, ceiling.rate, ' %')}"
        f"   next to gateway TCP / baseline = {ratio(tcp.rate, base.rate, 'x', 1)}"
    )
    print(
        f"baseline {base.rate:>7.0f} rows/s (naive server, one autocommit INSERT per position,"
        f" {args.baseline_connections or args.trackers} connections);"
        f" gateway TCP / baseline = {ratio(tcp.rate, base.rate, 'x', 1)}   (target >= 15x)"
    )
    print(
        f"baseline {single.rate:>7.0f} rows/s (the same, one connection);"
        f" gateway TCP / baseline = {ratio(tcp.rate, single.rate, 'x', 1)}"
    )
    if len(results) > 1 and results[1].latencies_s:
        print(
            f"p99 send->commit at {'a fixed rate' if args.paced_rate else 'half max'}:"
            f" {percentile(results[1].latencies_s, 99) * 1000:.1f} ms"
            "   (target < 200 ms)"
        )
    if tcp.latencies_s:
        print(f"p50 send->commit at full speed: {statistics.median(tcp.latencies_s) * 1000:.1f} ms")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tcp", type=int, default=200_000, help="positions in the TCP phase")
    p.add_argument("--gt06-share", type=int, default=10, help="percent of them from GT06 tags")
    p.add_argument("--trackers", type=int, default=100, help="Teltonika connections")
    p.add_argument("--gt06", type=int, default=10, help="GT06 connections")
    p.add_argument("--records", type=int, default=100, help="records per Teltonika packet")
    p.add_argument("--paced-seconds", type=float, default=5.0, help="length of the paced run")
    p.add_argument(
        "--paced-rate", type=float, default=0.0, help="paced rate (default: half of phase 1's)"
    )
    p.add_argument("--mqtt", type=int, default=60_000, help="positions in the MQTT backlog")
    p.add_argument("--mqtt-live", type=int, default=20_000, help="positions published live")
    p.add_argument("--phones", type=int, default=20, help="MQTT phones")
    p.add_argument("--mqtt-window", type=int, default=100, help="QoS 1 publishes in flight")
    p.add_argument("--ceiling", type=int, default=200_000, help="rows for the ceiling phase")
    p.add_argument(
        "--ceiling-batch",
        type=int,
        default=0,
        help="rows per ceiling transaction (default: the gateway's pipeline.batch_max)",
    )
    p.add_argument("--baseline", type=int, default=30_000, help="positions for the baseline")
    p.add_argument(
        "--baseline-single",
        type=int,
        default=10_000,
        help="positions for the one-connection baseline",
    )
    p.add_argument(
        "--baseline-connections",
        type=int,
        default=0,
        help="Teltonika connections for the baseline (default: --trackers, as the gateway run)",
    )
    p.add_argument("--cap", type=float, default=180.0, help="time cap per phase, seconds")
    p.add_argument("--profile", metavar="FILE", help="py-spy raw profile of the TCP phase")
    p.add_argument("--profile-mqtt", metavar="FILE", help="py-spy raw profile of the backlog")
    p.add_argument("--profile-seconds", type=int, default=10)
    p.add_argument("--keep", action="store_true", help="keep the trackgw_bench database")
    args = p.parse_args()
    try:
        asyncio.run(run(args))
    finally:
        if not args.keep:
            drop_database()


if __name__ == "__main__":
    main()
