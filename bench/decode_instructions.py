"""Decode cost per protocol in CPU instructions (valgrind's callgrind), repeatable on a noisy
machine: the same code and input give the same count whatever else the machine is doing.

For each protocol it decodes the stream ``decode_bench.py`` builds (the same frames) in a
fresh interpreter under callgrind, once with the stream and once without, and prints the
difference divided by the messages decoded: instructions per message, start-up excluded.
With ``--base DIR`` (another checkout, e.g. ``git worktree add --detach /tmp/base REV``) the
same is measured with that tree's ``protocols/`` and the ratio printed, so "no protocol
slower than before" can be checked without trusting wall-clock figures.

    .venv/bin/python bench/decode_instructions.py [--base DIR] [--protocols gt06,h02]

Each run opens its session as a device does (the GT06 login, the Teltonika IMEI) and must
decode every frame of the stream to a ``Position``: otherwise it stops with the counts,
rather than print the cost of rejecting them. The cyclic garbage collector is off while it
decodes: when its passes fall depends on how many objects the imports left (larger modules,
other passes), which moved tk103 by 2 % between identical trees. Prints figures only; never
fails on them. Needs ``valgrind`` (Debian's package).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROTOCOLS = ("gt06", "teltonika", "h02", "tk103", "watch")

#: run in the child: decode one protocol's bench stream with the ``protocols`` of TREE
CHILD = r"""
import gc, importlib.util, sys
from collections import Counter
tree, bench, proto, feed = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
sys.path.insert(0, tree)
spec = importlib.util.spec_from_file_location("decode_bench", bench)
db = importlib.util.module_from_spec(spec)
spec.loader.exec_module(db)
from protocols import registry
data, expected = getattr(db, proto + "_stream")()
session = registry.get(proto).new_session("tcp", None)
# the session opens as a device's does (login / IMEI), in both runs: only the stream differs
session.receive({"gt06": db.GT06_LOGIN, "teltonika": db.TELTONIKA_IMEI}.get(proto, b""))
gc.disable()  # a collection's cost depends on what the imports left, not on the decoder
messages = session.receive(data) if feed else []
kinds = Counter(type(m).__name__ for m in messages)
print("messages", len(messages), "positions", kinds["Position"],
      "expected", expected if feed else 0, "kinds", dict(kinds), file=sys.stderr)
"""


def instructions(tree: Path, protocol: str, feed: bool) -> tuple[int, int]:
    """(instructions, messages) of one child run under callgrind."""
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            "-c",
            CHILD,
            str(tree),
            str(ROOT / "bench" / "decode_bench.py"),
            protocol,
            "1" if feed else "0",
        ],
        capture_output=True,
        # str hashing is randomised per process: a fixed seed makes the count repeatable
        env={**os.environ, "PYTHONHASHSEED": "0"},
        text=True,
        check=True,
    )
    collected = re.search(r"Collected\s*:\s*(\d+)", done.stderr)
    counts = re.search(r"messages \d+ positions (\d+) expected (\d+) kinds (.*)", done.stderr)
    if collected is None or counts is None:
        raise RuntimeError(f"unexpected valgrind output:\n{done.stderr[-2000:]}")
    positions, expected = int(counts.group(1)), int(counts.group(2))
    if positions != expected:  # the figure would be the cost of something else (rejections)
        raise RuntimeError(
            f"{tree}: {protocol} decoded {positions} positions of {expected}: {counts.group(3)}"
        )
    return int(collected.group(1)), positions


def per_message(tree: Path, protocol: str) -> float:
    """Instructions per position decoded (the stream's every frame is one)."""
    idle, _ = instructions(tree, protocol, feed=False)
    busy, messages = instructions(tree, protocol, feed=True)
    return (busy - idle) / max(messages, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, help="another checkout to compare with")
    parser.add_argument("--protocols", default=",".join(PROTOCOLS))
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)")
        return 1
    for protocol in args.protocols.split(","):
        here = per_message(ROOT, protocol)
        line = f"{protocol:<10} {here:>10,.0f} instructions/message"
        if args.base is not None:
            base = per_message(args.base, protocol)
            line += f"   base {base:>10,.0f}   this / base = {here / base:.3f}"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
