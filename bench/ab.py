"""A/B: the gateway in this tree against the same gateway from other trees (patches).

``python -m bench.ab VARIANT [VARIANT...] [--rounds 5] [--seconds 3]``

A VARIANT is ``ROOT`` or ``ROOT@WORKERS``: ROOT a copy of the project with a
change applied (only its ``gateway/`` and ``handlers/`` matter; ``.`` is this
tree), WORKERS its ``--workers`` (default 1). The baseline, always first, is
this tree with one worker. Every gateway is its own process (one worker: on
the server CPU; more: on all CPUs), and wrk drives them in turn, round after
round (A B A B ...), so the machine's noise lands on all of them. Prints, per
row, the median calls/s and server CPU µs per call, and each variant's ratio
to the baseline.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

from bench import loads
from bench.harness import Placement, log
from bench.servers import ROOT, start_gateway


def _variant(text: str) -> tuple[Path, int]:
    root, _, workers = text.partition("@")
    path = ROOT if root == "." else Path(root).resolve()
    return path, int(workers or 1)


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="+", metavar="ROOT[@WORKERS]")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=_ints, default=[1, 16])
    parser.add_argument("--protocols", default="xml,json")
    parser.add_argument("--payloads", default="small")
    args = parser.parse_args()
    cpus = Placement.detect()
    if cpus.load:
        os.sched_setaffinity(0, cpus.load)
    workdir = loads.scratch_dir()
    variants = [(ROOT, 1), *map(_variant, args.variants)]
    gateways = [start_gateway(f"variant{i}", workdir, cpus.all if workers > 1 else cpus.server,
                              workers, root)
                for i, (root, workers) in enumerate(variants)]
    roots = [f"{root}@{workers}" for root, workers in variants]
    rows = [(p, payload, c) for payload in args.payloads.split(",")
            for p in args.protocols.split(",") for c in args.connections]
    results: dict[tuple, list[list[dict]]] = {row: [[] for _ in roots] for row in rows}
    try:
        for round_number in range(args.rounds):
            for row in rows:
                protocol, payload, connections = row
                for index, gateway in enumerate(gateways):
                    env = loads.wrk_env(protocol, payload, workdir)
                    cell = loads.measure(gateway, lambda: loads.run_wrk(
                        gateway.url(protocol), env, connections, args.seconds, cpus.load))
                    results[row][index].append(cell)
            log(f"round {round_number + 1} of {args.rounds} done")
    finally:
        for gateway in gateways:
            gateway.stop()
    print(f"| row | {' | '.join(str(r) for r in roots)} |")
    print("|---|" + "--:|" * len(roots))
    for row, per_root in results.items():
        base = statistics.median(c["calls_per_s"] for c in per_root[0])
        base_cpu = statistics.median(c["cpu_us_per_call"] for c in per_root[0])
        cells = []
        for cells_of_root in per_root:
            rate = statistics.median(c["calls_per_s"] for c in cells_of_root)
            cpu = statistics.median(c["cpu_us_per_call"] for c in cells_of_root)
            cells.append(f"{rate:,.0f}/s ({rate / base:.2f}x), {cpu:.0f} µs "
                         f"({cpu / base_cpu:.2f}x)")
        print(f"| {row[0]} {row[1]} x{row[2]} | {' | '.join(cells)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
