"""The two loads, each run in its own process pinned to the load CPU.

- ``wrk``: one wrk thread, ``connections`` keep-alive connections, posting a
  real call through bench/rpc.lua, which checks every response body.
- ``python``: ``python -m bench.pyload``: N threads, each with its own
  ``xmlrpc.client.ServerProxy`` or ``jsonrpclib.ServerProxy`` (what users run).

Each returns a dict: ``calls`` (good answers), ``errors``, ``seconds``,
``p50_ms``, ``p99_ms``. ``measure`` wraps one load with the server's CPU time
from /proc, giving ``cpu_us_per_call``.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from bench import payloads
from bench.servers import CLOCK_TICKS, ROOT, ServerProcess, pinned

LUA_SCRIPT = Path(__file__).with_name("rpc.lua")
WRK_TIMEOUT = "10s"  # past it wrk counts a timeout; shipped servers' SYN retries take 1-3 s


def _body_file(protocol: str, payload: str, workdir: Path) -> Path:
    path = workdir / f"body-{protocol}-{payload}.bin"
    if not path.exists():
        path.write_bytes(payloads.call(payload).body(protocol))
    return path


def wrk_env(protocol: str, payload: str, workdir: Path) -> dict[str, str]:
    call = payloads.call(payload)
    return {"BENCH_BODY": str(_body_file(protocol, payload, workdir)),
            "BENCH_TYPE": payloads.CONTENT_TYPES[protocol],
            "BENCH_CHECK": call.check(protocol), "BENCH_REFUSE": call.refuse(protocol)}


def mixed_wrk_env(payload: str, workdir: Path) -> dict[str, str]:
    """XML-RPC and JSON-RPC calls alternated on every connection (one port, both protocols)."""
    env = wrk_env("xml", payload, workdir)
    second = wrk_env("json", payload, workdir)
    env.update({f"{name}2": value for name, value in second.items()})
    return env


def run_wrk(url: str, env: dict[str, str], connections: int, seconds: float,
            cpus: set[int]) -> dict:
    """One wrk run; ``env`` from ``wrk_env`` (or ``mixed_wrk_env``).

    wrk's -d takes whole seconds; a shorter run (smoke mode) is ended with
    SIGINT, which wrk answers by stopping and reporting as at the end of -d.
    """
    args = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s",
            f"--timeout={WRK_TIMEOUT}", "-s", str(LUA_SCRIPT), url]
    process = subprocess.Popen(args, env={**os.environ, **env}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, preexec_fn=pinned(cpus))
    try:
        if seconds < 1:
            time.sleep(seconds)
            process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=seconds + 60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    lines = [line for line in stdout.splitlines() if line.startswith("BENCH_JSON ")]
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({process.returncode}): {stderr[-500:]}{stdout[-500:]}")
    raw = json.loads(lines[-1].split(" ", 1)[1])
    errors = (raw["bad"] + raw["connect_errors"] + raw["read_errors"] + raw["write_errors"]
              + raw["timeouts"])
    return {"calls": raw["good"], "errors": errors, "seconds": raw["duration_us"] / 1e6,
            "p50_ms": raw["p50_us"] / 1000, "p99_ms": raw["p99_us"] / 1000,
            "max_ms": raw["max_us"] / 1000, "timeouts": raw["timeouts"],
            "stderr": stderr.strip()[-300:]}


def run_python(url: str, protocol: str, payload: str, threads: int, seconds: float,
               cpus: set[int]) -> dict:
    args = [sys.executable, "-m", "bench.pyload", "--url", url, "--protocol", protocol,
            "--payload", payload, "--threads", str(threads), "--seconds", str(seconds)]
    done = subprocess.run(args, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=seconds + 60,
                          preexec_fn=pinned(cpus))
    if done.returncode != 0:
        raise RuntimeError(f"python load failed ({done.returncode}): {done.stderr[-800:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(server: ServerProcess, load: Callable[[], dict]) -> dict:
    """Run ``load`` and add calls/s and the CPU per call of the server and of the load.

    The load's CPU is that of the reaped children of this process (wrk or the
    Python clients), which shares the machine with the servers.
    """
    server.read_notifications()
    before, load_before, steal_before = server.cpu_seconds(), _children_cpu(), steal_seconds()
    result = load()
    cpu, load_cpu = server.cpu_seconds() - before, _children_cpu() - load_before
    calls = result["calls"]
    result["server_cpu_s"] = round(cpu, 3)
    result["steal_s"] = round(steal_seconds() - steal_before, 3)
    result["calls_per_s"] = calls / result["seconds"] if result["seconds"] else 0.0
    result["cpu_us_per_call"] = cpu * 1e6 / calls if calls else None
    result["load_cpu_us_per_call"] = load_cpu * 1e6 / calls if calls else None
    return result


def steal_seconds() -> float:
    """CPU time the hypervisor gave to others while this VM wanted it, all CPUs together
    (the ``steal`` column of /proc/stat): a cell with much of it ran on a slowed machine."""
    with open("/proc/stat") as stat:
        fields = stat.readline().split()
    return int(fields[8]) / CLOCK_TICKS if len(fields) > 8 else 0.0


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def scratch_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="rpc-bench-"))
