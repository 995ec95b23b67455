"""RSS growth over many calls: does the gateway keep anything per call?

wrk alternates XML-RPC and JSON-RPC ``add`` calls on the same keep-alive
connections, in chunks of at most ``CHUNK_SECONDS``, until ``calls`` good
answers have been counted (wrk runs for a duration, so the count is reached
in chunks and the last one may overshoot). RSS (summed over the server's
processes) is read after a warm-up and after every chunk; the growth is the
last reading minus the first.
"""

from __future__ import annotations

from pathlib import Path

from bench.loads import mixed_wrk_env, run_wrk
from bench.servers import ServerProcess

CHUNK_SECONDS = 15.0
CONNECTIONS = 16
MiB = 1 << 20


def run(server: ServerProcess, calls: int, workdir: Path, load_cpus: set[int],
        warmup_seconds: float = 2.0) -> dict:
    env = mixed_wrk_env("small", workdir)
    url = server.url("xml")
    run_wrk(url, env, CONNECTIONS, warmup_seconds, load_cpus)
    start = server.rss_bytes()
    samples, done, errors, seconds = [start], 0, 0, 0.0
    chunk = min(CHUNK_SECONDS, max(0.5, warmup_seconds))
    while done < calls and server.alive():
        result = run_wrk(url, env, CONNECTIONS, chunk, load_cpus)
        done += result["calls"]
        errors += result["errors"]
        seconds += result["seconds"]
        samples.append(server.rss_bytes())
        rate = result["calls"] / result["seconds"] if result["calls"] else 1000.0
        chunk = max(0.5, min(CHUNK_SECONDS, (calls - done) / rate + 0.2))
    return {"server": server.name, "calls": done, "errors": errors, "seconds": round(seconds, 1),
            "rss_start_mib": start / MiB, "rss_end_mib": samples[-1] / MiB,
            "rss_max_mib": max(samples) / MiB, "growth_mib": (samples[-1] - start) / MiB,
            "samples_mib": [round(s / MiB, 2) for s in samples]}
