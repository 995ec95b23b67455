"""What the metrics cost: per observation (timeit) and in calls/s (wrk, metrics on vs off).

``python -m bench.metrics_cost [--rounds 5] [--seconds 3] [--connections 16]``

1. timeit of one ``Metrics.record`` (the one call per finished request) in one
   process and in multiprocess mode (``workers > 1``, its publisher thread
   running), of the prometheus_client observation it used to be (in both modes),
   of a small hand-written registry doing the same counting (a dict of counters
   and a bisect into the buckets, under a lock), with metrics off, and of one
   publish (what a worker's thread does once a second).
2. wrk at 16 connections against the same build with ``metrics.enabled`` true
   and false (``RPC_GATEWAY_METRICS_ENABLED``), one worker and two, A B A B ...
   (B A every other round) so the machine's noise lands on both, with fresh
   processes every round; and, cleaner, one gateway in this process whose
   metrics are switched on and off between runs. No CPU pinning; the shipped defaults.
"""

from __future__ import annotations

import argparse
import bisect
import os
import statistics
import sys
import tempfile
import threading
import time
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
    """Microseconds per recorded call, best of 5 timeit runs: the shipped path (the tally,
    published later) in one process and with workers, the prometheus_client values it
    replaced on the hot path, a hand-written baseline, and metrics off."""
    from gateway import metrics

    names = ["add", "divide"]
    results = {}
    one = metrics.Metrics(names, lambda: (0, 0))
    results["Metrics.record, one process"] = best(
        lambda: one.record("POST", "xmlrpc", "add", "ok", 200, 0.0003))
    direct = one.latency.labels("xmlrpc", "add")
    results["prometheus_client observe, one process (the old hot path)"] = best(
        lambda: direct.observe(0.0003))
    off = metrics.Metrics(names, lambda: (0, 0), enabled=False)
    results["metrics off"] = best(lambda: off.record("POST", "xmlrpc", "add", "ok", 200, 0.0003))
    hand = HandWritten(metrics.BUCKETS)
    results["hand-written registry"] = best(lambda: hand.record("xmlrpc", "add", 0.0003))
    value_class = metrics.values.ValueClass
    with tempfile.TemporaryDirectory() as shared:
        os.environ[metrics.SHARED_ENV] = shared
        try:
            many = metrics.Metrics(names, lambda: (0, 0))  # its publisher thread runs meanwhile
            results["Metrics.record, workers > 1 (publisher running)"] = best(
                lambda: many.record("POST", "xmlrpc", "add", "ok", 200, 0.0003))
            direct = many.latency.labels("xmlrpc", "add")
            results["prometheus_client observe, multiprocess (the old hot path)"] = best(
                lambda: direct.observe(0.0003))
            results["one publish of 40 changed series, workers > 1 (once a second)"] = (
                publish_cost(many))
            many.close()
        finally:
            del os.environ[metrics.SHARED_ENV]
            metrics.values.ValueClass = value_class  # this process serves in one-process mode next
    return results


def best(statement, number: int = NUMBER) -> float:
    return min(timeit.repeat(statement, number=number, repeat=5)) / number * 1e6


def publish_cost(many) -> float:
    """A publish when 40 series (20 methods, 2 protocols) all moved since the last one."""
    many.methods = frozenset(f"m{i}" for i in range(20))
    keys = [(protocol, method) for protocol in ("xmlrpc", "jsonrpc") for method in many.methods]

    def round_trip() -> None:
        for key in keys:
            many.tally.observe(key, 0.0003)
        many.publish()

    return best(round_trip, 200)


def calls_per_second(rounds: int, seconds: float, connections: int) -> dict[tuple, list]:
    """Fresh gateways every round: one process's layout and hash seed can be worth a few
    per cent by themselves, which would read as the cost of the metrics."""
    workdir = loads.scratch_dir()
    variants = [(workers, enabled) for workers in (1, 2) for enabled in (True, False)]
    rates: dict[tuple, list[tuple[float, float]]] = {}
    for round_number in range(rounds):
        gateways = start_variants(variants, workdir)
        try:
            order = list(zip(variants, gateways))
            if round_number % 2:  # off before on every other round: no side always goes first
                order = [order[i] for i in (1, 0, 3, 2)]
            for protocol in ("xml", "json"):
                for variant, gateway in order:
                    env = loads.wrk_env(protocol, "small", workdir)
                    cell = loads.measure(gateway, lambda: loads.run_wrk(
                        gateway.url(protocol), env, connections, seconds, set()))
                    assert cell["errors"] == 0, cell
                    rates.setdefault((protocol, *variant), []).append(
                        (cell["calls_per_s"], cell["cpu_us_per_call"]))
        finally:
            for gateway in gateways:
                gateway.stop()
        log(f"round {round_number + 1} of {rounds} done")
    return rates


def toggled_in_process(rounds: int, seconds: float, connections: int) -> dict[tuple, list]:
    """One gateway in this process, metrics switched on and off between wrk runs: the same
    process, memory layout and hash seed on both sides (workers = 1 only)."""
    from gateway import GatewayServer, load_config
    config = load_config(overrides={"server.listen": ["127.0.0.1:0"],
                                    "logging.access_log": False},
                         use_default_path=False, environ={})
    server = GatewayServer(config)
    thread = threading.Thread(target=server.serve_forever, name="gateway-loop")
    thread.start()
    host, port = server.server_address[:2]
    workdir = loads.scratch_dir()
    rates: dict[tuple, list[tuple[float, float]]] = {}
    try:
        for round_number in range(rounds):
            for protocol in ("xml", "json"):
                for enabled in (True, False) if round_number % 2 == 0 else (False, True):
                    server.metrics.enabled = enabled
                    before = time.process_time()
                    cell = loads.run_wrk(f"http://{host}:{port}/RPC2" if protocol == "xml" else
                                         f"http://{host}:{port}/jsonrpc",
                                         loads.wrk_env(protocol, "small", workdir), connections,
                                         seconds, set())
                    cpu = (time.process_time() - before) * 1e6 / cell["calls"]
                    rates.setdefault((protocol, 1, enabled), []).append(
                        (cell["calls"] / cell["seconds"], cpu))
            log(f"in-process round {round_number + 1} of {rounds} done")
    finally:
        server.shutdown(drain_timeout=5)
        server.server_close()
        thread.join(10)
    return rates


def table(title: str, rates: dict[tuple, list], worker_counts: tuple[int, ...]) -> None:
    print(f"\n| {title} | metrics on | metrics off | on / off, median of the rounds' ratios "
          "| server CPU µs/call on / off |\n|---|--:|--:|--:|--:|")
    for protocol in ("xml", "json"):
        for workers in worker_counts:
            cells_on, cells_off = rates[(protocol, workers, True)], rates[(protocol, workers, False)]
            on = [statistics.median(c) for c in zip(*cells_on)]
            off = [statistics.median(c) for c in zip(*cells_off)]
            ratio = statistics.median(a[0] / b[0] for a, b in zip(cells_on, cells_off))
            print(f"| {protocol}, workers={workers} | {on[0]:,.0f}/s | {off[0]:,.0f}/s | "
                  f"{ratio:.3f} | {on[1]:.0f} / {off[1]:.0f} |")


def start_variants(variants: list[tuple[int, bool]], workdir) -> list:
    gateways = []
    try:
        for workers, enabled in variants:
            os.environ["RPC_GATEWAY_METRICS_ENABLED"] = "true" if enabled else "false"
            gateways.append(start_gateway(f"w{workers}-{'on' if enabled else 'off'}", workdir,
                                          set(), workers))
    except BaseException:
        for gateway in gateways:
            gateway.stop()
        raise
    finally:
        os.environ.pop("RPC_GATEWAY_METRICS_ENABLED", None)
    return gateways


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
    table(f"wrk, {args.connections} conns, one process switched, {args.rounds} rounds",
          toggled_in_process(args.rounds, args.seconds, args.connections), (1,))
    table(f"wrk, {args.connections} conns, separate processes, {args.rounds} rounds",
          calls_per_second(args.rounds, args.seconds, args.connections), (1, 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
