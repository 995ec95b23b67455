"""Where one small call's time goes inside the gateway, under wrk load.

``python -m bench.profile [--seconds 5] [--connections 16] [--protocol xml|json]``

For each protocol a fresh in-process gateway (access log off) is started with
a cProfile profiler in EVERY thread (the connection loop and both worker
pools: ``threading.setprofile`` installs one in each thread as it starts),
wrk drives ``add(2, 3)`` calls at it from the load CPU, and the merged
profile is printed two ways:

- the top functions by own time (tottime), in µs per call;
- the gateway's own functions (files under gateway/) with own and cumulative
  time per call, so the cost of each step of the path is visible.

By default the profilers count each thread's CPU time (``--clock cpu``): with
wall time, the GIL and queue waits are charged to whatever C call released
the GIL (a socket send looks like 90 µs). Profiling inflates call-heavy code
(about 2x here); the figures rank costs, they do not measure them. The
unprofiled CPU per call comes from bench/.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import threading
import time
from pathlib import Path

from bench import loads
from bench.harness import Placement

ROOT = Path(__file__).resolve().parents[1]


class ThreadProfiles:
    """One cProfile.Profile per thread started while installed."""

    def __init__(self, clock: str = "cpu") -> None:
        self.clock = clock
        self.profiles: list[cProfile.Profile] = []
        self._lock = threading.Lock()

    def install(self) -> None:
        threading.setprofile(self._start_in_thread)

    def uninstall(self) -> None:
        threading.setprofile(None)

    def _start_in_thread(self, frame, event, arg) -> None:
        # Called once by the thread's first profile event: swap in a real profiler.
        sys.setprofile(None)
        if self.clock == "cpu":  # the thread's own CPU time: waits for the GIL cost nothing
            profile = cProfile.Profile(time.thread_time_ns, 1e-9)
        else:
            profile = cProfile.Profile()
        with self._lock:
            self.profiles.append(profile)
        profile.enable()

    def stats(self) -> pstats.Stats:
        merged = None
        for profile in self.profiles:
            profile.create_stats()
            if not profile.stats:
                continue
            if merged is None:
                merged = pstats.Stats(profile)
            else:
                merged.add(profile)
        return merged


def start_gateway():
    from gateway import GatewayServer, load_config
    config = load_config(overrides={"server.listen": ["127.0.0.1:0"],
                                    "logging.access_log": False},
                         use_default_path=False, environ={})
    server = GatewayServer(config)
    thread = threading.Thread(target=server.serve_forever, name="gateway-loop")
    thread.start()
    return server, thread


def stop_gateway(server, thread) -> None:
    server.shutdown(drain_timeout=5)
    server.server_close()
    thread.join(10)


def profile_protocol(protocol: str, seconds: float, connections: int, workdir: Path,
                     cpus: Placement, clock: str = "cpu",
                     payload: str = "small") -> tuple[pstats.Stats, int, dict]:
    profiles = ThreadProfiles(clock)
    profiles.install()
    try:
        server, thread = start_gateway()
    finally:
        profiles.uninstall()
    host, port = server.server_address[:2]
    path = "/RPC2" if protocol == "xml" else "/jsonrpc"
    cpu_before = time.process_time()
    try:
        result = loads.run_wrk(f"http://{host}:{port}{path}",
                               loads.wrk_env(protocol, payload, workdir), connections,
                               seconds, cpus.load)
    finally:
        stop_gateway(server, thread)
    result["profiled_cpu_us_per_call"] = ((time.process_time() - cpu_before) * 1e6
                                          / max(1, result["calls"]))
    return profiles.stats(), server.router.calls, result


def gateway_rows(stats: pstats.Stats, calls: int, limit: int) -> list[str]:
    """Functions defined in gateway/, by cumulative time per call."""
    rows = []
    for (filename, line, name), (_, ncalls, tottime, cumtime, _) in stats.stats.items():
        if f"{os.sep}gateway{os.sep}" in filename:
            rows.append((cumtime, tottime, ncalls, f"gateway/{Path(filename).name}:{line} {name}"))
    rows.sort(reverse=True)
    lines = ["| function | calls per RPC call | own µs per call | cumulative µs per call |",
             "|---|--:|--:|--:|"]
    for cumtime, tottime, ncalls, where in rows[:limit]:
        lines.append(f"| {where} | {ncalls / calls:.2f} | {tottime * 1e6 / calls:.1f} | "
                     f"{cumtime * 1e6 / calls:.1f} |")
    return lines


def top_rows(stats: pstats.Stats, calls: int, limit: int) -> list[str]:
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)
    lines = ["| function (any module) | calls per RPC call | own µs per call |", "|---|--:|--:|"]
    for (filename, line, name), (_, ncalls, tottime, _, _) in rows[:limit]:
        where = filename if filename == "~" else "/".join(Path(filename).parts[-2:])
        lines.append(f"| {where}:{line} {name} | {ncalls / calls:.2f} | "
                     f"{tottime * 1e6 / calls:.1f} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--protocol", choices=("xml", "json"), action="append")
    parser.add_argument("--limit", type=int, default=30)
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                        help="cpu (default): each thread's CPU time, so time spent waiting "
                             "for the GIL or a queue is not charged to the call that waited")
    parser.add_argument("--payload", default="small", help="small, struct1000 or array10000")
    parser.add_argument("--dump", type=Path, help="also write each merged profile here (.prof)")
    args = parser.parse_args()
    cpus = Placement.detect()
    if cpus.server:
        os.sched_setaffinity(0, cpus.server)  # this process is the server here
    workdir = loads.scratch_dir()
    for protocol in args.protocol or ["xml", "json"]:
        stats, calls, result = profile_protocol(protocol, args.seconds, args.connections,
                                                workdir, cpus, args.clock, args.payload)
        rate = result["calls"] / result["seconds"]
        print(f"\n## {protocol}: {calls:,} calls, {rate:,.0f} calls/s under the profiler, "
              f"{result['profiled_cpu_us_per_call']:.0f} µs CPU per call profiled, "
              f"wrk {args.connections} connections\n")
        print("\n".join(top_rows(stats, calls, args.limit)))
        print()
        print("\n".join(gateway_rows(stats, calls, args.limit)))
        if args.dump:
            args.dump.parent.mkdir(parents=True, exist_ok=True)
            stats.dump_stats(str(args.dump.with_name(f"{args.dump.stem}-{protocol}.prof")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
