"""The Python client load: N threads, each with its own ServerProxy, calling until time is up.

This is what the gateway's users run: ``xmlrpc.client.ServerProxy`` or
``jsonrpclib.ServerProxy``, one per thread (neither is thread-safe), each
keeping its connection when the server allows it. Every answer is compared
with the expected value; a wrong answer or an exception is an error (and the
thread makes a fresh proxy, as a user's retry would).

Run as ``python -m bench.pyload --url URL --protocol xml|json --threads N
--seconds S [--payload small]``; prints one JSON line: calls, errors,
seconds, p50_ms, p99_ms, max_ms.
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time
import xmlrpc.client

import jsonrpclib

from bench import payloads

CALL_TIMEOUT = 30.0


def make_proxy(url: str, protocol: str):
    if protocol == "xml":
        return xmlrpc.client.ServerProxy(url)
    return jsonrpclib.ServerProxy(url)


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, int(fraction * len(sorted_values)))
    return sorted_values[index]


def run(url: str, protocol: str, payload: str, threads: int, seconds: float) -> dict:
    call = payloads.call(payload)
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors = [0] * threads
    start = threading.Barrier(threads + 1)
    state = {"deadline": 0.0}

    def worker(index: int) -> None:
        proxy = make_proxy(url, protocol)
        method = getattr(proxy, call.method)
        mine = latencies[index]
        start.wait()
        deadline = state["deadline"]
        while (began := time.perf_counter()) < deadline:
            try:
                ok = call.accepts(method(*call.args))
            except Exception:
                ok = False
                proxy = make_proxy(url, protocol)
                method = getattr(proxy, call.method)
            if ok:
                mine.append(time.perf_counter() - began)
            else:
                errors[index] += 1

    pool = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for thread in pool:
        thread.start()
    began = time.perf_counter()
    state["deadline"] = began + seconds
    start.wait()
    for thread in pool:
        thread.join(seconds + CALL_TIMEOUT + 5)
    elapsed = time.perf_counter() - began
    merged = sorted(value for chunk in latencies for value in chunk)
    return {"calls": len(merged), "errors": sum(errors), "seconds": elapsed,
            "p50_ms": percentile(merged, 0.50) * 1000, "p99_ms": percentile(merged, 0.99) * 1000,
            "max_ms": (merged[-1] * 1000) if merged else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--protocol", choices=payloads.PROTOCOLS, required=True)
    parser.add_argument("--payload", choices=payloads.PAYLOADS, default="small")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    socket.setdefaulttimeout(CALL_TIMEOUT)
    print(json.dumps(run(args.url, args.protocol, args.payload, args.threads, args.seconds)))


if __name__ == "__main__":
    main()
