"""``python -m bench [--smoke] [options]``: run the benchmark, print the markdown report."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from bench.harness import RESULTS, SMOKE, Plan, execute


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=(
        "Benchmark rpc-gateway against the stdlib SimpleXMLRPCServer and jsonrpclib's "
        "PooledJSONRPCServer (as shipped and tuned), interleaved, with wrk and Python clients."))
    parser.add_argument("--smoke", action="store_true",
                        help="a few seconds per server: proves the harness, measures nothing")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 5)")
    parser.add_argument("--seconds", type=float, help="seconds per cell (default 2)")
    parser.add_argument("--wrk-connections", type=_ints, help="e.g. 1,16,64")
    parser.add_argument("--python-threads", type=_ints, help="e.g. 1,8,32")
    parser.add_argument("--rss-calls", type=int, help="calls for the memory run (default 1000000)")
    parser.add_argument("--idle-connections", type=int, help="default 1000")
    parser.add_argument("--workers", type=int, help="the second gateway's --workers "
                                                    "(default 2; 1 skips it)")
    parser.add_argument("--pin-servers", action="store_true",
                        help="confine each server to one CPU (the old method; a second table, "
                             "not the shipped defaults)")
    parser.add_argument("--no-aria2", dest="aria2", action="store_false", default=None,
                        help="leave out the aria2 anchor")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    parser.add_argument("--note", default="", help="a sentence for the report (e.g. 'machine shared')")
    return parser


def plan_from(args: argparse.Namespace) -> Plan:
    plan = SMOKE if args.smoke else Plan()
    changes = {name: getattr(args, name) for name in (
        "rounds", "seconds", "wrk_connections", "python_threads", "rss_calls",
        "idle_connections", "workers", "aria2") if getattr(args, name) is not None}
    if args.pin_servers:
        changes["pin_servers"] = True
    return replace(plan, **changes)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result, path = execute(plan_from(args), args.out, args.note)
    print(path.read_text())
    print(f"written: {path} and {path.with_suffix('.json')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
