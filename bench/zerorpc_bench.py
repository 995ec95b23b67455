"""``python -m bench.zerorpc_bench``: the gateway's zerorpc front against zerorpc.Server.

Both serve the same calculator (zerorpc-python's server gets the calculator with
``streaming_range`` wrapped in ``@zerorpc.stream``) and are measured in one run,
interleaved round by round, with the shipped defaults (access log on, written to
a file) and no CPU pinning. Clients are zerorpc-python processes, which are
slow themselves (~1,000 calls/s each), so calls/s are client-bound: the cost
figure is the server's own CPU per call, read from /proc (utime + stime) over
the measured window, with enough clients to keep the server busy.

Measured per round and server: calls/s and server CPU µs per ``add(1, 2)`` at
each client count, and the wall time and server CPU of one 100,000-item
``streaming_range`` consumed by one client. The report gives medians.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
STREAM_ITEMS = 100_000

ZERORPC_SERVER = '''
import sys, zerorpc
from handlers.calculator import Calculator

class StreamingCalculator(Calculator):
    @zerorpc.stream
    def streaming_range(self, fr, to, step=1):
        return Calculator.streaming_range(self, fr, to, step)

server = zerorpc.Server(StreamingCalculator())
server.bind(sys.argv[1])
print("READY", sys.argv[1], flush=True)
server.run()
'''

CALLER = '''
import sys, time, zerorpc
client = zerorpc.Client(timeout=30)
client.connect(sys.argv[1])
for _ in range(20):
    client.add(1, 2)
print("ready", flush=True)
sys.stdin.readline()
deadline = time.monotonic() + float(sys.argv[2])
calls = 0
while time.monotonic() < deadline:
    assert client.add(1, 2) == 3
    calls += 1
print(calls, flush=True)
'''

STREAMER = '''
import sys, time, zerorpc
client = zerorpc.Client(timeout=30)
client.connect(sys.argv[1])
client.add(1, 2)
print("ready", flush=True)
sys.stdin.readline()
started = time.monotonic()
count = sum(1 for _ in client.streaming_range(0, int(sys.argv[2]), 1))
assert count == int(sys.argv[2]), count
print(time.monotonic() - started, flush=True)
'''


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class Server:
    """One server process; ``endpoint`` is set once it is ready."""

    def __init__(self, name: str, argv: list[str], log: Path) -> None:
        self.name = name
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.log = open(log, "w+")
        self.process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                        stderr=self.log, stdin=subprocess.DEVNULL, text=True)
        self.endpoint = ""

    def wait_in_log(self, pattern: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            self.log.seek(0)
            found = re.search(pattern, self.log.read())
            if found:
                return found[1]
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not start")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.log.close()


def start_gateway(workdir: Path) -> Server:
    """The shipped defaults: one process, access log on (to a file here)."""
    server = Server("gateway", [sys.executable, "-m", "gateway", "--bind", "127.0.0.1:0",
                                "--zerorpc", "tcp://127.0.0.1:0"], workdir / "gateway.log")
    server.endpoint = server.wait_in_log(r"zerorpc on (tcp://[\d.]+:\d+)")
    return server


def start_zerorpc_server(workdir: Path) -> Server:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        endpoint = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    server = Server("zerorpc.Server", [sys.executable, "-c", ZERORPC_SERVER, endpoint],
                    workdir / "zerorpc.log")
    if server.process.stdout.readline().split()[:1] != ["READY"]:
        server.stop()
        raise RuntimeError("zerorpc.Server did not start")
    server.endpoint = endpoint
    return server


def run_clients(server: Server, script: str, count: int, arg: str) -> tuple[list[str], float,
                                                                             float]:
    """Start ``count`` clients, release them together; (outputs, wall s, server CPU s)."""
    clients = [subprocess.Popen([sys.executable, "-c", script, server.endpoint, arg],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
               for _ in range(count)]
    try:
        for client in clients:
            if client.stdout.readline().strip() != "ready":
                raise RuntimeError(f"a client of {server.name} failed to start")
        cpu, started = cpu_seconds(server.process.pid), time.monotonic()
        for client in clients:
            client.stdin.write("go\n")
            client.stdin.flush()
        outputs = [client.stdout.readline().strip() for client in clients]
        wall, cpu = time.monotonic() - started, cpu_seconds(server.process.pid) - cpu
    finally:
        for client in clients:
            client.kill()
            client.wait(5)
    return outputs, wall, cpu


def measure(server: Server, clients: tuple[int, ...], seconds: float,
            stream_items: int) -> dict[str, float]:
    cell: dict[str, float] = {}
    for count in clients:
        outputs, wall, cpu = run_clients(server, CALLER, count, str(seconds))
        calls = sum(int(out) for out in outputs)
        cell[f"calls/s @{count}"] = calls / wall
        cell[f"server µs/call @{count}"] = cpu / calls * 1e6
    outputs, wall, cpu = run_clients(server, STREAMER, 1, str(stream_items))
    cell["stream s"] = float(outputs[0])
    cell["stream server CPU s"] = cpu
    return cell


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.zerorpc_bench", description=__doc__
                                     .split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per cell")
    parser.add_argument("--clients", default="1,16", help="client processes per cell")
    parser.add_argument("--stream-items", type=int, default=STREAM_ITEMS,
                        help=f"items in the streamed call (default {STREAM_ITEMS:,})")
    args = parser.parse_args(argv)
    clients = tuple(int(n) for n in args.clients.split(","))
    results: dict[str, list[dict[str, float]]] = {"gateway": [], "zerorpc.Server": []}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for start in (start_gateway, start_zerorpc_server):
                server = start(Path(tmp))
                try:
                    results[server.name].append(
                        measure(server, clients, args.seconds, args.stream_items))
                finally:
                    server.stop()
                print(f"round {round_ + 1}: {server.name} done", file=sys.stderr)
    print(report(results, args))
    return 0


def report(results: dict[str, list[dict[str, float]]], args: argparse.Namespace) -> str:
    keys = list(results["gateway"][0])
    lines = [f"zerorpc front vs zerorpc.Server: {args.rounds} interleaved round(s), "
             f"{args.seconds:g} s per cell, clients {args.clients}, "
             f"a {args.stream_items:,}-item stream, medians; "
             f"{os.cpu_count()} CPUs, not pinned", "",
             "| measure | gateway | zerorpc.Server | ratio |", "|---|---|---|---|"]
    for key in keys:
        ours = statistics.median(r[key] for r in results["gateway"])
        theirs = statistics.median(r[key] for r in results["zerorpc.Server"])
        lines.append(f"| {key} | {ours:,.1f} | {theirs:,.1f} | {ours / theirs:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
