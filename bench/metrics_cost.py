"""What the metrics cost: per observation (timeit) and in calls/s (wrk, metrics on vs off).

``python -m bench.metrics_cost [--rounds 5] [--seconds 3] [--connections 16]``

1. timeit of one ``Metrics.record`` (the one call per finished request) with
   prometheus_client in one process, in multiprocess mode (``workers > 1``), with
   metrics off, and of a small hand-written registry doing the same counting
   (a dict of counters and a bisect into the buckets, under a lock): the figure
   the issue asks for before choosing prometheus_client.
2. wrk at 16 connections against the same build with ``metrics.enabled`` true
   and false (``RPC_GATEWAY_METRICS_ENABLED``), one worker and two, A B A B ...
   so the machine's noise lands on both. No CPU pinning; the shipped defaults.
"""

from __future__ import annotations

import argparse
import bisect
import os
import statistics
import sys
import tempfile
import threading
import timeit

from bench import loads
from bench.harness import log
from bench.servers import start_gateway

NUMBER = 200_000


class HandWritten:
    """The smallest registry that counts the same things: the baseline to beat."""

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.calls: dict[tuple[str, str], int] = {}
        self.counts: dict[tuple[str, str], list[float]] = {}
        self.lock = threading.Lock()

    def record(self, protocol: str, method: str, seconds: float) -> None:
        key = (protocol, method)
        with self.lock:
            self.calls[key] = self.calls.get(key, 0) + 1
            counts = self.counts.get(key) or self.counts.setdefault(
                key, [0.0] * (len(self.buckets) + 2))
            counts[bisect.bisect_left(self.buckets, seconds)] += 1
            counts[-1] += seconds


def per_observation() -> dict[str, float]:
    """Microseconds per recorded call, best of 5 timeit runs."""
    from gateway import metrics

    def best(statement) -> float:
        return min(timeit.repeat(statement, number=NUMBER, repeat=5)) / NUMBER * 1e6

    names = ["add", "divide"]
    results = {}
    one = metrics.Metrics(names, lambda: (0, 0))
    results["prometheus_client, one process"] = best(
        lambda: one.record("POST", "xmlrpc", "add", "ok", 200, 0.0003))
    off = metrics.Metrics(names, lambda: (0, 0), enabled=False)
    results["metrics off"] = best(lambda: off.record("POST", "xmlrpc", "add", "ok", 200, 0.0003))
    hand = HandWritten(metrics.BUCKETS)
    results["hand-written registry"] = best(lambda: hand.record("xmlrpc", "add", 0.0003))
    with tempfile.TemporaryDirectory() as shared:
        os.environ[metrics.SHARED_ENV] = shared
        try:
            many = metrics.Metrics(names, lambda: (0, 0))
            results["prometheus_client, multiprocess (workers > 1)"] = best(
                lambda: many.record("POST", "xmlrpc", "add", "ok", 200, 0.0003))
        finally:
            del os.environ[metrics.SHARED_ENV]
    return results


def calls_per_second(rounds: int, seconds: float, connections: int) -> dict[tuple, list[tuple[float, float]]]:
    workdir = loads.scratch_dir()
    variants = [(workers, enabled) for workers in (1, 2) for enabled in (True, False)]
    gateways = []
    try:
        for workers, enabled in variants:
            os.environ["RPC_GATEWAY_METRICS_ENABLED"] = "true" if enabled else "false"
            gateways.append(start_gateway(f"w{workers}-{'on' if enabled else 'off'}", workdir,
                                          set(), workers))
        del os.environ["RPC_GATEWAY_METRICS_ENABLED"]
        rates: dict[tuple, list[tuple[float, float]]] = {}
        for round_number in range(rounds):
            order = list(zip(variants, gateways))
            if round_number % 2:  # off before on every other round: no side always goes first
                order = [pair for i in (1, 0, 3, 2) for pair in [order[i]]]
            for protocol in ("xml", "json"):
                for variant, gateway in order:
                    env = loads.wrk_env(protocol, "small", workdir)
                    cell = loads.measure(gateway, lambda: loads.run_wrk(
                        gateway.url(protocol), env, connections, seconds, set()))
                    assert cell["errors"] == 0, cell
                    rates.setdefault((protocol, *variant), []).append(
                        (cell["calls_per_s"], cell["cpu_us_per_call"]))
            log(f"round {round_number + 1} of {rounds} done")
        return rates
    finally:
        for gateway in gateways:
            gateway.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--skip-wrk", action="store_true", help="only the timeit part")
    args = parser.parse_args()
    print("| one recorded call | µs |\n|---|--:|")
    for name, micros in per_observation().items():
        print(f"| {name} | {micros:.2f} |")
    if args.skip_wrk:
        return 0
    rates = calls_per_second(args.rounds, args.seconds, args.connections)
    print(f"\n| wrk, {args.connections} conns, median of {args.rounds} | metrics on | "
          "metrics off | on / off, median of the rounds' ratios | server CPU µs/call on / off |"
          "\n|---|--:|--:|--:|--:|")
    for protocol in ("xml", "json"):
        for workers in (1, 2):
            cells_on, cells_off = rates[(protocol, workers, True)], rates[(protocol, workers, False)]
            on = [statistics.median(c) for c in zip(*cells_on)]
            off = [statistics.median(c) for c in zip(*cells_off)]
            ratio = statistics.median(a[0] / b[0] for a, b in zip(cells_on, cells_off))
            print(f"| {protocol}, workers={workers} | {on[0]:,.0f}/s | {off[0]:,.0f}/s | "
                  f"{ratio:.3f} | {on[1]:.0f} / {off[1]:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
