"""XML-RPC marshalling alone: the gateway's codec against xmlrpc.client, in one process.

For each large payload of bench/payloads.py (and a list of 1,000 mixed
records, ``rows1000``), times parsing the call
(``xmlrpc.client.loads`` vs ``gateway.xmldecode.parse_call``) and writing the
response (``xmlrpc.client.dumps`` vs ``gateway.xmlencode.dump_response``),
interleaved, ``--repeat`` rounds, and prints the median time of each and the
ratio stdlib / gateway (above 1 means the gateway is faster). Times are this
process's CPU time (``time.process_time``), which other programs on a shared
machine disturb far less than wall-clock time, and the medians, not the best
runs, are reported.

    python -m bench.codec [--repeat 15] [--number 20]
"""

from __future__ import annotations

import argparse
import statistics
import time
import timeit
import xmlrpc.client

from bench.payloads import call
from gateway.xmldecode import parse_call
from gateway.xmlencode import dump_response

LARGE = ("struct1000", "array10000", "rows1000")


def rows() -> list[dict]:
    """A list of 1,000 records of mixed fields: what legacy integrations move."""
    return [{"id": i, "name": f"customer {i} <&>", "active": i % 3 == 0, "balance": i * 1.25,
             "tags": ["a", "b"], "parent": i // 10} for i in range(1000)]


def contenders(payload: str) -> dict[str, tuple]:
    """(stdlib, gateway) callables per direction, checked to give the same answer."""
    value = rows() if payload == "rows1000" else call(payload).expected
    body = xmlrpc.client.dumps((value,), "ping").encode("utf-8")
    assert parse_call(body, 64).params == xmlrpc.client.loads(body, use_builtin_types=True)[0]
    stdlib_dump = xmlrpc.client.dumps((value,), methodresponse=True, allow_none=True)
    assert dump_response(value) == stdlib_dump.encode("utf-8")
    return {
        "parse call": (lambda: xmlrpc.client.loads(body, use_builtin_types=True),
                       lambda: parse_call(body, 64)),
        "dump response": (lambda: xmlrpc.client.dumps((value,), methodresponse=True,
                                                      allow_none=True).encode("utf-8"),
                          lambda: dump_response(value)),
    }


def measure(repeat: int, number: int) -> list[tuple[str, str, float, float]]:
    rows = []
    for payload in LARGE:
        for direction, (stdlib, gateway) in contenders(payload).items():
            times: dict[str, list[float]] = {"stdlib": [], "gateway": []}
            for _ in range(repeat):  # interleaved, so load changes hit both alike
                for name, function in (("stdlib", stdlib), ("gateway", gateway)):
                    seconds = timeit.timeit(function, number=number, timer=time.process_time)
                    times[name].append(seconds / number)
            rows.append((payload, direction, statistics.median(times["stdlib"]),
                         statistics.median(times["gateway"])))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--number", type=int, default=20)
    args = parser.parse_args()
    print(f"CPU ms per call, median of {args.repeat} interleaved rounds of {args.number}\n")
    print("| payload | direction | stdlib ms | gateway ms | stdlib / gateway |")
    print("|---|---|---|---|---|")
    for payload, direction, stdlib, gateway in measure(args.repeat, args.number):
        print(f"| {payload} | {direction} | {stdlib * 1e3:.2f} | {gateway * 1e3:.2f} "
              f"| {stdlib / gateway:.2f}x |")


if __name__ == "__main__":
    main()
