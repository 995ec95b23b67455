"""What the bridge hop costs: a JSON-RPC upstream called directly and through the gateway.

One run, interleaved (direct, bridged, in-process, direct, ... per round, so a
slow minute of a shared machine lands on all three): calls/s and latency
percentiles for sequential calls on one kept-alive connection, and calls/s
with several client threads; the gateway's CPU per call, read from /proc,
for bridged calls (``up.add``: parse, check, forward, wait, answer) and for
the same call served in-process (``add``), so the difference is what the hop
adds. The upstream is jsonrpclib's PooledJSONRPCServer tuned as in
bench/references.py, the gateway runs its shipped defaults (access log off).

    python -m bench.bridge_bench [--calls 3000] [--rounds 3] [--threads 4]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.servers import ROOT, ServerProcess, start_reference

BODY = b'{"jsonrpc":"2.0","method":"%s","params":[2,3],"id":1}'


def start_bridging_gateway(workdir: Path, upstream: str) -> ServerProcess:
    """``python -m gateway`` serving the calculator and ``up=`` the upstream; READY=1 read."""
    config = workdir / "bridge.toml"
    config.write_text('[logging]\naccess_log = false\nlevel = "warning"\n[service]\n'
                      f'services = ["handlers.calculator:Calculator", '
                      f'"up=jsonrpc+http://{upstream}/#methods=add"]\n')  # it has no listMethods
    notify_path = workdir / "notify-bridge"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    notify.settimeout(30)
    log_path = workdir / "bridge.stderr.log"
    env = {**os.environ, "NOTIFY_SOCKET": str(notify_path), "PYTHONPATH": str(ROOT)}
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "--bind", "127.0.0.1:0", "--config", str(config)],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
    while True:
        message = notify.recv(65536).decode()
        if "READY=1" in message:
            break
    address = message.split("listening on ", 1)[1].split(";")[0].split(", ")[0]
    return ServerProcess("gateway", "gateway", {"json": "/"}, process, address, set(), log_path,
                         1, notify)


def sequential(address: str, method: str, calls: int) -> list[float]:
    """Seconds per call, one kept-alive connection, one call at a time."""
    host, port = address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    body, headers = BODY % method.encode(), {"Content-Type": "application/json"}
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        conn.request("POST", "/", body, headers)
        answer = conn.getresponse().read()
        times.append(time.perf_counter() - start)
        if b'"result":5' not in answer:
            raise RuntimeError(f"{method} answered {answer[:200]!r}")
    conn.close()
    return times


def threaded(address: str, method: str, calls: int, threads: int) -> float:
    """Calls per second with ``threads`` clients, each on its own connection."""
    share = max(1, calls // threads)
    workers = [threading.Thread(target=sequential, args=(address, method, share))
               for _ in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return share * threads / (time.perf_counter() - start)


def measure(target: str, address: str, method: str, calls: int, threads: int,
            gateway: ServerProcess) -> dict:
    cpu = gateway.cpu_seconds()
    times = sequential(address, method, calls)
    cpu = gateway.cpu_seconds() - cpu
    ordered = sorted(times)
    return {"target": target, "calls_per_s": len(times) / sum(times),
            "p50_us": 1e6 * statistics.median(ordered),
            "p99_us": 1e6 * ordered[int(len(ordered) * 0.99) - 1],
            "threaded_calls_per_s": threaded(address, method, calls, threads),
            "gateway_cpu_us_per_call": 1e6 * cpu / calls}


def run(calls: int, rounds: int, threads: int) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        upstream = start_reference("upstream", "jsonrpclib-tuned", workdir, set())
        gateway = start_bridging_gateway(workdir, upstream.address)
        try:
            targets = [("direct to upstream", upstream.address, "add"),
                       ("bridged via gateway", gateway.address, "up.add"),
                       ("in-process at gateway", gateway.address, "add")]
            for target in targets:  # warm up: connections, pools, caches
                sequential(target[1], target[2], 200)
            for _ in range(rounds):
                rows += [measure(*target, calls, threads, gateway) for target in targets]
        finally:
            gateway.stop()
            upstream.stop()
    return rows


def summary(rows: list[dict]) -> list[dict]:
    """Medians over rounds, per target."""
    merged = []
    for target in dict.fromkeys(row["target"] for row in rows):
        mine = [row for row in rows if row["target"] == target]
        merged.append({key: (target if key == "target" else
                             round(statistics.median(row[key] for row in mine), 1))
                       for key in mine[0]})
    return merged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000, help="calls per target per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4, help="client threads (threaded)")
    args = parser.parse_args(argv)
    table = summary(run(args.calls, args.rounds, args.threads))
    print(f"{'target':24} {'calls/s':>9} {'p50 µs':>8} {'p99 µs':>8} "
          f"{'calls/s x' + str(args.threads):>12} {'gw CPU µs/call':>15}")
    for row in table:
        print(f"{row['target']:24} {row['calls_per_s']:>9} {row['p50_us']:>8} "
              f"{row['p99_us']:>8} {row['threaded_calls_per_s']:>12} "
              f"{row['gateway_cpu_us_per_call']:>15}")
    bridged, local = table[1]["gateway_cpu_us_per_call"], table[2]["gateway_cpu_us_per_call"]
    print(f"gateway CPU per bridged call: {bridged} µs ({bridged - local:+.1f} µs over the "
          f"same call in-process); target <= 150 µs")
    print(json.dumps({"calls": args.calls, "rounds": args.rounds, "rows": table}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
