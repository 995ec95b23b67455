"""XML-RPC large payloads end to end: the gateway against the tuned stdlib server, over wrk.

The part of the full benchmark (bench/run.sh) that the XML-RPC codec moves,
runnable alone in about two minutes: ``ping`` of a 1,000-member struct and
of a 10,000-int array, wrk with 4 keep-alive connections, the gateway
(``workers = 1``, access log off, as bench/run.sh starts it) and the tuned
``SimpleXMLRPCServer``, interleaved over ``--rounds``. ``--before ROOT`` adds
the gateway from another source tree (a checkout without the codec) as a
third server. Servers on CPU 1 and wrk on CPU 0, as in the full run; the
median of the rounds is reported, since the machine may be shared.

    python -m bench.xmlpayloads [--rounds 5] [--seconds 5] [--before ../main]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from bench.loads import measure, run_wrk, wrk_env
from bench.servers import start_gateway, start_reference

PAYLOADS = ("struct1000", "array10000")
SERVER_CPUS, LOAD_CPUS = {1}, {0}


def start_servers(workdir: Path, before: Path | None) -> list:
    servers = [start_gateway("gateway", workdir, SERVER_CPUS),
               start_reference("stdlib-tuned", "stdlib-tuned", workdir, SERVER_CPUS)]
    if before is not None:
        servers.append(start_gateway("gateway-before", workdir, SERVER_CPUS, root=before))
    return servers


def run(rounds: int, seconds: float, before: Path | None) -> dict[tuple[str, str, str], float]:
    """Median calls/s and server CPU µs per call, keyed (server, payload, measure)."""
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        servers = start_servers(workdir, before)
        try:
            samples: dict[tuple[str, str, str], list[float]] = {}
            for _ in range(rounds):
                for payload in PAYLOADS:
                    env = wrk_env("xml", payload, workdir)
                    for server in servers:
                        result = measure(server, lambda: run_wrk(
                            server.url("xml"), env, 4, seconds, LOAD_CPUS))
                        if result["errors"]:
                            raise RuntimeError(f"{server.name} {payload}: {result['errors']} "
                                               "wrong answers or errors")
                        for key in ("calls_per_s", "cpu_us_per_call"):
                            samples.setdefault((server.name, payload, key), []).append(
                                result[key])
        finally:
            for server in servers:
                server.stop()
    return {key: statistics.median(values) for key, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--before", type=Path, help="another source tree's gateway, to compare")
    args = parser.parse_args()
    medians = run(args.rounds, args.seconds, args.before)
    names = [name for name in ("gateway", "stdlib-tuned", "gateway-before")
             if (name, PAYLOADS[0], "calls_per_s") in medians]
    print(f"Median of {args.rounds} rounds of {args.seconds:g} s; calls/s and server CPU µs "
          "per call.\n")
    print(f"| payload | {' | '.join(names)} | gateway / tuned calls/s | tuned / gateway CPU |")
    print("|---|" + "---|" * (len(names) + 2))
    for payload in PAYLOADS:
        cells = " | ".join(f"{medians[name, payload, 'calls_per_s']:,.0f} /s, "
                           f"{medians[name, payload, 'cpu_us_per_call']:,.0f} µs"
                           for name in names)
        speed = (medians["gateway", payload, "calls_per_s"]
                 / medians["stdlib-tuned", payload, "calls_per_s"])
        cpu = (medians["stdlib-tuned", payload, "cpu_us_per_call"]
               / medians["gateway", payload, "cpu_us_per_call"])
        print(f"| {payload} | {cells} | {speed:.2f}x | {cpu:.2f}x |")

if __name__ == "__main__":
    main()
