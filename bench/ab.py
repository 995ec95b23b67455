"""A/B: the gateway in this tree against the same gateway from other trees (patches).

``python -m bench.ab VARIANT [VARIANT...] [--rounds 5] [--seconds 3]``

A VARIANT is ``ROOT[@WORKERS][:OPTION,...]``: ROOT a copy of the project with
a change applied (only its ``gateway/`` and ``handlers/`` matter; ``.`` is
this tree), WORKERS its ``--workers`` (default 1, ``auto`` allowed); OPTIONS
``quiet`` (``access_log = false``) and ``pinned`` (the process confined to the
server CPU, as the old benchmark did). Without options a variant runs at the
shipped defaults, unpinned (free to use every CPU, as users run it), access
log on, stderr a pipe with a reader. The baseline, always first, is this tree
that way with one worker. wrk drives the gateways in turn, round after round
(A B A B ...), so the machine's noise lands on all of them. Prints, per row,
the median calls/s and server CPU µs per call, and each variant's ratio to the
baseline (the median of the rounds' ratios).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
from pathlib import Path

from bench import loads
from bench.harness import Placement, log
from bench.servers import QUIET, ROOT, SHIPPED, start_gateway

OPTIONS = frozenset({"quiet", "pinned"})


def _variant(text: str) -> tuple[Path, str, frozenset[str]]:
    text, _, options = text.partition(":")
    root, _, workers = text.partition("@")
    path = ROOT if root == "." else Path(root).resolve()
    chosen = frozenset(filter(None, options.split(",")))
    if chosen - OPTIONS:
        raise SystemExit(f"unknown option(s) {', '.join(sorted(chosen - OPTIONS))}; "
                         f"known: {', '.join(sorted(OPTIONS))}")
    return path, workers or "1", chosen


def _start(index: int, variant: tuple[Path, str, frozenset[str]], workdir: Path,
           cpus: Placement):
    root, workers, options = variant
    where = cpus.server if "pinned" in options else cpus.all
    return start_gateway(f"variant{index}", workdir, where, workers, root,
                         QUIET if "quiet" in options else SHIPPED, drain_cpus=cpus.load)


def _paired(cells: list[dict], base: list[dict], figure: str) -> str:
    """The median of the rounds' ratios: a round's two cells run seconds apart, so a
    machine that slows for a minute moves both (as in bench.report)."""
    return f"{statistics.median(c[figure] / b[figure] for c, b in zip(cells, base)):.2f}"


def _load(row: tuple, gateway, workdir: Path, seconds: float, cpus: Placement):
    protocol, payload, load, count = row
    if load == "python":
        return lambda: loads.run_python(gateway.url(protocol), protocol, payload, count,
                                        seconds, cpus.load)
    env = loads.wrk_env(protocol, payload, workdir)
    return lambda: loads.run_wrk(gateway.url(protocol), env, count, seconds, cpus.load)


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+", metavar="ROOT[@WORKERS]")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=_ints, default=[1, 16],
                        help="wrk connections per row")
    parser.add_argument("--python", type=_ints, default=[], metavar="THREADS",
                        help="also Python-client rows (bench.pyload) with these thread counts")
    parser.add_argument("--protocols", default="xml,json")
    parser.add_argument("--payloads", default="small")
    args = parser.parse_args()
    cpus = Placement.detect()
    if cpus.load:
        os.sched_setaffinity(0, cpus.load)
    workdir = loads.scratch_dir()
    variants = [_variant("."), *map(_variant, args.variants)]
    gateways = []
    try:
        for index, variant in enumerate(variants):
            gateways.append(_start(index, variant, workdir, cpus))
    except BaseException:
        for gateway in gateways:
            gateway.stop()
        raise
    roots = [f"{root.name}@{workers}:{','.join(sorted(options)) or 'defaults'}"
             for root, workers, options in variants]
    rows = [(p, payload, load, n) for payload in args.payloads.split(",")
            for p in args.protocols.split(",")
            for load, counts in (("wrk", args.connections), ("python", args.python))
            for n in counts]
    results: dict[tuple, list[list[dict]]] = {row: [[] for _ in roots] for row in rows}
    try:
        for round_number in range(args.rounds):
            for row in rows:
                for index, gateway in enumerate(gateways):
                    cell = loads.measure(gateway, _load(row, gateway, workdir, args.seconds, cpus))
                    results[row][index].append(cell)
            log(f"round {round_number + 1} of {args.rounds} done")
    finally:
        for gateway in gateways:
            gateway.stop()
        shutil.rmtree(workdir, ignore_errors=True)  # access logs of the runs: large
    print(f"| row | {' | '.join(str(r) for r in roots)} |")
    print("|---|" + "--:|" * len(roots))
    for row, per_root in results.items():
        cells = []
        for cells_of_root in per_root:
            rate = statistics.median(c["calls_per_s"] for c in cells_of_root)
            cpu = statistics.median(c["cpu_us_per_call"] for c in cells_of_root)
            ratio = _paired(cells_of_root, per_root[0], "calls_per_s")
            cpu_ratio = _paired(cells_of_root, per_root[0], "cpu_us_per_call")
            cells.append(f"{rate:,.0f}/s ({ratio}x), {cpu:.0f} µs ({cpu_ratio}x)")
        unit = "conns" if row[2] == "wrk" else "threads"
        print(f"| {row[2]} {row[0]} {row[1]} {row[3]} {unit} | {' | '.join(cells)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
