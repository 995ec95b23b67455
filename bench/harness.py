"""One benchmark run: start every server, drive them interleaved, measure, write the report.

Rules this module keeps:
1. Every server is started once, as its own process, and stays up for the
   whole run; servers take turns per row (A B C A B C ...), and the whole
   matrix is repeated ``rounds`` times, so a slow minute of a shared machine
   lands on all servers rather than on one.
2. Servers run as users run them: unpinned, free to use every CPU, the
   gateway at its shipped defaults (access log on, stderr a pipe read by a
   ``cat``, as journald reads a service's). Loads (wrk, the Python clients,
   the idle-connection and memory drivers, this process) stay on the load
   CPU. ``--pin-servers`` confines servers to the other CPU instead (the old
   method; its figures are a second table, labelled so).
3. One more gateway runs with ``access_log = false`` (the log's cost is a ratio
   in the same run), and aria2 (C++, both protocols on one port) is the
   native anchor for the small-call rows.
4. A server that fails to start or dies is reported, never silently dropped.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import jsonrpclib

import gateway
from bench import idle, loads, memory, report
from bench.payloads import PROTOCOLS
from bench.servers import (QUIET, ROOT, SHIPPED, ServerProcess, StartError, start_aria2,
                           start_gateway, start_reference)
from gateway.config import SCHEMA

RESULTS = ROOT / "bench" / "results"


@dataclass(frozen=True)
class Plan:
    rounds: int = 5  # 3 left the rows near a threshold to chance: cells scatter ±15 % here
    seconds: float = 2.0
    wrk_connections: tuple[int, ...] = (1, 16, 64)
    python_threads: tuple[int, ...] = (1, 8, 32)
    large_payloads: tuple[str, ...] = ("struct1000", "array10000")
    large_connections: int = 4
    idle_connections: int = 1000
    idle_calls: int = 200
    idle_timeout: float = 5.0  # per fresh call beside the idle connections
    rss_calls: int = 1_000_000
    workers: int = 2  # the second gateway's --workers; 0 or 1: not run
    warmup_seconds: float = 1.0
    aria2: bool = True  # the native anchor (skipped, with a note, when aria2c is missing)
    pin_servers: bool = False


SMOKE = Plan(rounds=1, seconds=0.3, wrk_connections=(4,), python_threads=(2,),
             large_payloads=("struct1000",), large_connections=2, idle_connections=50,
             idle_calls=20, idle_timeout=1.0, rss_calls=2000, warmup_seconds=0.0)


@dataclass(frozen=True)
class Workload:
    load: str  # "wrk" or "python"
    protocol: str
    payload: str
    concurrency: int


def workloads(plan: Plan) -> list[Workload]:
    rows = [Workload("wrk", p, "small", c) for p in PROTOCOLS for c in plan.wrk_connections]
    rows += [Workload("python", p, "small", t) for p in PROTOCOLS for t in plan.python_threads]
    rows += [Workload("wrk", p, payload, plan.large_connections)
             for payload in plan.large_payloads for p in PROTOCOLS]
    return rows


@dataclass
class Placement:
    server: set[int]  # the CPU a pinned server gets
    load: set[int]
    all: set[int] = field(default_factory=set)
    pin_servers: bool = False

    @classmethod
    def detect(cls, pin_servers: bool = False) -> "Placement":
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            return cls(set(), set(), set())
        return cls({cpus[1]}, {cpus[0]}, set(cpus), pin_servers)

    def for_server(self, workers: int = 1) -> set[int]:
        """Unpinned: every CPU (this process's own pinning must not be inherited)."""
        return self.server if self.pin_servers and workers == 1 else self.all

    def describe(self) -> str:
        if not self.server:
            return "none (one CPU available): clients and servers share it"
        servers = (f"servers pinned to CPU {_cpus(self.server)} (gateway workers=2: CPUs "
                   f"{_cpus(self.all)})" if self.pin_servers else
                   f"servers unpinned (CPUs {_cpus(self.all)})")
        return f"{servers}; loads (wrk, Python clients, harness) on CPU {_cpus(self.load)}"


def _cpus(cpus: set[int]) -> str:
    return ",".join(map(str, sorted(cpus)))


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- starting --------------------------------------------------------------------------

def start_servers(plan: Plan, workdir: Path, cpus: Placement, notes: list[str],
                  servers: list[ServerProcess]) -> None:
    """Start every server into ``servers`` (the caller stops them, even after a failure)."""
    drain = cpus.load or None
    servers.append(start_gateway("gateway", workdir, cpus.for_server(), 1, ROOT, SHIPPED,
                                 drain))
    servers.append(start_gateway("gateway-quiet", workdir, cpus.for_server(), 1, ROOT, QUIET,
                                 drain))
    if plan.workers > 1:
        try:
            servers.append(start_gateway("gateway-w2", workdir, cpus.all, plan.workers, ROOT,
                                         SHIPPED, drain))
        except StartError as error:
            notes.append(f"gateway --workers {plan.workers} did not start, so only workers=1 "
                         f"is measured: {error}")
            log(notes[-1])
    for kind in ("stdlib-shipped", "stdlib-tuned", "jsonrpclib-shipped", "jsonrpclib-tuned"):
        servers.append(start_reference(kind, kind, workdir, cpus.for_server()))
    if plan.aria2:
        if shutil.which("aria2c") is None:
            notes.append("aria2c is not installed (Debian package aria2): no native anchor")
            log(notes[-1])
        else:
            servers.append(start_aria2("aria2", workdir, cpus.for_server()))
    for server in servers:
        log(f"{server.name} ready on {server.address} (pid {server.process.pid}, "
            f"CPUs {_cpus(server.cpus) or 'any'})")


def warm_up(plan: Plan, servers: list[ServerProcess], workdir: Path, cpus: Placement) -> None:
    """Imports, pools and caches filled before the first measured cell."""
    if plan.warmup_seconds <= 0:
        return
    for server in servers:
        for protocol in server.protocols:
            loads.run_wrk(server.url(protocol), loads.wrk_env(protocol, server.small, workdir),
                          4, plan.warmup_seconds, cpus.load)


# -- measuring -------------------------------------------------------------------------

def run_cell(server: ServerProcess, work: Workload, plan: Plan, workdir: Path,
             cpus: Placement) -> dict:
    url = server.url(work.protocol)
    payload = server.small if work.payload == "small" else work.payload
    if work.load == "wrk":
        env = loads.wrk_env(work.protocol, payload, workdir)
        load = lambda: loads.run_wrk(url, env, work.concurrency, plan.seconds, cpus.load)
    else:
        load = lambda: loads.run_python(url, work.protocol, payload, work.concurrency,
                                        plan.seconds, cpus.load)
    if not server.alive():
        return {"error": f"server exited with status {server.process.returncode}"}
    try:
        return loads.measure(server, load)
    except (RuntimeError, subprocess.TimeoutExpired) as error:
        return {"error": str(error)[:300]}


def measured_on(server: ServerProcess, work: Workload) -> bool:
    """Which servers take part in a row: every one whose figure a ratio or target uses.

    aria2 (no add, no ping) and the log-off gateway (its point is the log's cost at small
    calls) run the small wrk rows only; the shipped references skip the large payloads
    (only the tuned ones are compared there). That keeps a full run within 15 minutes.
    """
    if work.protocol not in server.protocols:
        return False
    if server.role == "anchor" or server.name == "gateway-quiet":
        return work.load == "wrk" and work.payload == "small"
    return not (server.role == "shipped" and work.payload != "small")


def run_matrix(plan: Plan, servers: list[ServerProcess], workdir: Path,
               cpus: Placement) -> list[dict]:
    cells = []
    rows = workloads(plan)
    for round_number in range(1, plan.rounds + 1):
        for work in rows:
            for server in servers:
                if not measured_on(server, work):
                    continue
                result = run_cell(server, work, plan, workdir, cpus)
                cell = {"round": round_number, **asdict(work), "server": server.name, **result}
                cells.append(cell)
                log(_cell_line(cell))
    return cells


def _cell_line(cell: dict) -> str:
    head = (f"round {cell['round']} {cell['load']} {cell['protocol']} {cell['payload']} "
            f"x{cell['concurrency']} {cell['server']}: ")
    if "error" in cell:
        return head + "ERROR " + cell["error"]
    cpu = cell["cpu_us_per_call"]
    return head + (f"{cell['calls_per_s']:,.0f} calls/s p50 {cell['p50_ms']:.2f} ms "
                   f"p99 {cell['p99_ms']:.1f} ms cpu {cpu or 0:,.0f} µs/call "
                   f"errors {cell['errors']}")


def thread_bound(workers: int) -> int:
    """Configured thread bound: per process the two pools, the loop and its standby, the main
    thread, the access log's writer, the metrics sampler and the memory trimmer."""
    per_process = SCHEMA["server"]["xmlrpc_threads"][0] + SCHEMA["server"]["jsonrpc_threads"][0] + 6
    return workers * per_process + (2 if workers > 1 else 0)  # a master: main + one helper


def run_idle(plan: Plan, servers: list[ServerProcess]) -> list[dict]:
    results = []
    for server in servers:
        if server.role in ("shipped", "anchor") or server.name == "gateway-quiet":
            continue  # shipped: HTTP/1.0, nothing is kept alive; the others add nothing
        log(f"idle connections: {server.name}")
        try:
            entry = idle.run(server, plan.idle_connections, plan.idle_calls, plan.idle_timeout)
        except OSError as error:
            entry = {"server": server.name, "error": f"{type(error).__name__}: {error}"}
        if server.role == "gateway":
            entry["thread_bound"] = thread_bound(server.workers)
        results.append(entry)
        log(f"  {entry}")
    return results


def run_memory(plan: Plan, servers: list[ServerProcess], workdir: Path,
               cpus: Placement) -> dict | None:
    gateway = next((s for s in servers if s.name == "gateway"), None)
    if gateway is None or plan.rss_calls <= 0:
        return None
    log(f"memory: {plan.rss_calls:,} calls through {gateway.name}")
    try:
        result = memory.run(gateway, plan.rss_calls, workdir, cpus.load,
                            warmup_seconds=max(plan.warmup_seconds, 0.5))
    except (RuntimeError, subprocess.TimeoutExpired) as error:
        return {"server": gateway.name, "error": str(error)[:300]}
    log(f"  {result}")
    return result


# -- the run ---------------------------------------------------------------------------

def machine_facts(plan: Plan, cpus: Placement) -> dict:
    model = "unknown CPU"
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split(" [")[0]
    git = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                         capture_output=True, text=True).stdout.strip() or "unknown"
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "nproc": os.cpu_count(), "cpu_model": model, "kernel": platform.release(),
            "python": platform.python_version(), "wrk": wrk.strip(),
            "jsonrpclib": getattr(jsonrpclib, "__version__", "?"),
            "gateway_version": gateway.__version__, "git": git,
            "pinning": cpus.describe(), "loadavg_before": _loadavg(),
            "plan": asdict(plan)}


def _loadavg() -> str:
    with open("/proc/loadavg") as handle:
        return " ".join(handle.read().split()[:3])


def execute(plan: Plan, out_dir: Path = RESULTS, note: str = "") -> tuple[dict, Path]:
    """Run the whole benchmark; return the raw result and the markdown file written."""
    if shutil.which("wrk") is None:
        raise SystemExit("bench: wrk is not installed (Debian package 'wrk'; tests/run.sh "
                         "installs it)")
    started = time.monotonic()
    cpus = Placement.detect(plan.pin_servers)
    if cpus.load:
        os.sched_setaffinity(0, cpus.load)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    workdir = out_dir / f"run-{stamp}"
    workdir.mkdir(parents=True, exist_ok=True)
    meta = machine_facts(plan, cpus)
    meta["note"] = note
    notes: list[str] = []
    servers: list[ServerProcess] = []
    try:
        start_servers(plan, workdir, cpus, notes, servers)
        warm_up(plan, servers, workdir, cpus)
        cells = run_matrix(plan, servers, workdir, cpus)
        idle_results = run_idle(plan, servers)
        memory_result = run_memory(plan, servers, workdir, cpus)
    finally:
        exits = {server.name: server.stop() for server in servers}
    meta.update(loadavg_after=_loadavg(), duration_s=time.monotonic() - started,
                notes=notes, exit_status=exits, access_lines=access_lines(servers))
    result = {"meta": meta, "cells": cells, "idle": idle_results, "memory": memory_result}
    result["summary"] = {" ".join(map(str, key)): value
                         for key, value in report.aggregate(cells).items()}
    result["targets"] = report.targets(report.aggregate(cells), idle_results, memory_result,
                                       max(1, len(cpus.all)))
    return result, write(result, out_dir, stamp)


LOG_KEEP = 1 << 20  # bytes of a gateway's stderr kept after the run (its tail)


def access_lines(servers: list[ServerProcess]) -> dict[str, int]:
    """Access lines each stopped gateway wrote (one per call, warm-up and idle runs
    included); its stderr is then cut to its tail (1M calls make ~150 MB of log)."""
    counts = {}
    for server in servers:
        if server.role != "gateway" or not server.log_path.exists():
            continue
        counts[server.name] = server.log_lines()
        if server.log_path.stat().st_size > 8 * LOG_KEEP:
            with open(server.log_path, "rb") as handle:
                handle.seek(-LOG_KEEP, os.SEEK_END)
                tail = handle.read()
            server.log_path.write_bytes(b"[cut: the run's tail]\n" + tail)
    return counts


def write(result: dict, out_dir: Path, stamp: str) -> Path:
    text = report.markdown(result)
    markdown_path = out_dir / f"bench-{stamp}.md"
    markdown_path.write_text(text)
    (out_dir / f"bench-{stamp}.json").write_text(json.dumps(result, indent=1, default=str))
    return markdown_path


