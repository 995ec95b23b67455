"""bench/zerorpc_bench.py runs end to end (a few seconds; it measures nothing here)."""

import subprocess
import sys

from tests.support.processes import ROOT


def test_zerorpc_bench_smoke():
    done = subprocess.run([sys.executable, "-m", "bench.zerorpc_bench", "--rounds", "1",
                           "--seconds", "0.5", "--clients", "1,2", "--stream-items", "2000"],
                          cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert [row.split(" | ")[0] for row in rows[1:]] == [
        "| calls/s @1", "| server µs/call @1", "| calls/s @2", "| server µs/call @2",
        "| stream s", "| stream server CPU s"]
    for row in rows[1:]:
        gateway, reference = (float(cell.replace(",", "")) for cell in row.split(" | ")[1:3])
        assert gateway >= 0 and reference >= 0, row  # CPU of a short stream may round to 0
    assert float(rows[1].split(" | ")[1].replace(",", "")) > 0
