"""Finding and running the client programs, and what every one of them must print.

Each program beside this file takes ``URL A B NAME LARGE_COUNT`` (the issue 12
ones also MARKUP, some one more argument) and prints one JSON object per call: ``{"call": ..., "result":
...}``, ``{"call": ..., "fault": {"code", "message"}, "native": ...}`` for a
fault in the library's own form, or ``{"call": ..., "error": ...}`` when the
library raised something else. The expected values are computed here.

A client that is not installed fails the test with the command that installs
it; it is never skipped (tests/run.sh installs every one of them).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
A, B = 21, 84  # A < B, so subtract shows the legacy |a - b|
NAME = "Jürgen 東京"  # within Latin-1 and beyond it: clients slip on each differently
LATIN1_NAME = "Jürgen"
LARGE = 3000  # a reply of ~100 KB, over the gateway's gzip threshold
BIG = 2**40  # beyond 32 bits: the gateway answers it as <i8>
MARKUP = "<a href=\"x\">Tom & Jerry's</a> ]]> &amp;"  # markup, and an entity's own text
# Values the issue 12 programs build themselves, the same in each of them:
DOUBLE = -1234.5
WHEN = "2026-01-02T03:04:05"  # sent as dateTime.iso8601, printed back in this form (UTC)
BLOB = b"\x00\x01\xfe\xff<bin>"  # sent as <base64>, printed back as hex
ASTRAL = "emoji \U0001F600"  # beyond U+FFFF: a surrogate pair in Java
SEQUENTIAL = 100  # add(i, B) for i < 100, on the library's own connection handling
METHOD_NOT_FOUND = -32601
SERVICE_ERROR = -32000
CLIENT_TIMEOUT = 30
# Clients read argv and print in UTF-8 whatever the CI locale is.
CLIENT_ENV = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "TZ": "UTC"}

APT = "apt-get install -y"
NPM_HINT = "cd tests/interop && npm install (tests/run.sh does this)"


# -- what every client must get back ------------------------------------------------


def expected_results(a: int, b: int, name: str, large: int) -> dict[str, Any]:
    """The calculator's answers, computed here, for the calls every program makes."""
    return {
        "add": a + b,
        "subtract": abs(a - b),
        "divide": a / b,
        "hello": f"Hello, {name}",
        "ping_struct": {"number": a, "text": "plain", "list": [a, b, "three"],
                        "nested": {"real": 2.5}},
        "ping_array": [a, "two", {"key": b}, [1.5]],
        "ping_large": {"count": large, "sum": large * (large - 1) // 2},
        "i8_result": BIG,
        "ping_markup": MARKUP,
        "ping_markup_escaped": MARKUP,
        "ping_double": DOUBLE,
        "ping_boolean": True,
        "ping_datetime": WHEN,
        "ping_base64": BLOB.hex(),
        "ping_i8": BIG,
        "ping_nil": None,
        "hello_astral": f"Hello, {ASTRAL}",
        "hello_bytes": f"Hello, {name}",
        "sequential": {"count": SEQUENTIAL, "sum": sum(range(SEQUENTIAL)) + SEQUENTIAL * b},
    }


EXPECTED = expected_results(A, B, NAME, LARGE)
COMMON_CALLS = ("add", "subtract", "divide", "hello", "ping_struct", "ping_array",
                "ping_large", "i8_result")
# What every issue 12 program tries; each test removes what its library cannot do.
WIDE_CALLS = (*COMMON_CALLS, "ping_markup", "ping_double", "ping_boolean", "ping_datetime",
              "ping_base64", "ping_i8", "ping_nil", "sequential")


def as_perl_text(value: Any) -> Any:
    """What an untyped Perl client holds: every scalar as its text."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return [as_perl_text(item) for item in value]
    if isinstance(value, dict):
        return {key: as_perl_text(item) for key, item in value.items()}
    return value


def check_results(results: dict[str, dict], calls: tuple[str, ...], *,
                  text_values: tuple[str, ...] = ()) -> None:
    """Each call printed a result equal to the expected one; all mismatches at once."""
    problems = []
    for call in calls:
        want = EXPECTED[call]
        if call in text_values:
            want = as_perl_text(want)
        line = results.get(call)
        if line is None:
            problems.append(f"{call}: the program printed nothing for it")
        elif "result" not in line:
            problems.append(f"{call}: expected result {want!r}, got {line}")
        elif line["result"] != want:
            problems.append(f"{call}: expected {want!r}, got {line['result']!r}")
    assert not problems, "\n".join(problems)


def check_native_fault(line: dict | None, *, message_suffix: str = "division by zero") -> None:
    """divide(a, 0) surfaced as the library's own fault object, code -32000."""
    assert line is not None, "the program printed nothing for divide_by_zero"
    assert "fault" in line, f"divide by zero did not surface as a fault: {line}"
    assert int(line["fault"]["code"]) == SERVICE_ERROR, line
    assert line["fault"]["message"].endswith(message_suffix), line
    assert line.get("native"), f"no native fault type reported: {line}"


def check_unknown_method(line: dict | None) -> None:
    """A call of a method the service lacks: the library's fault, code -32601."""
    assert line is not None, "the program printed nothing for unknown_method"
    assert "fault" in line, f"an unknown method did not surface as a fault: {line}"
    assert int(line["fault"]["code"]) == METHOD_NOT_FOUND, line
    assert "no_such_method" in line["fault"]["message"], line


def check_raw_multicall(line: dict | None) -> None:
    """system.multicall as the library decoded it: [value] per success, a fault struct
    per failure (check_multicall's form, for programs that print the raw answer)."""
    assert line is not None, "the program printed nothing for multicall"
    if "result" in line and isinstance(line["result"], list):
        line = {"result": [
            {"fault": {"code": entry["faultCode"], "message": entry["faultString"]}}
            if isinstance(entry, dict) else {"result": entry[0]} for entry in line["result"]]}
    check_multicall(line)


def check_multicall(line: dict | None, *, text_values: bool = False) -> None:
    """add and subtract succeed, divide-by-zero is a fault in its own entry."""
    assert line is not None, "the program printed nothing for multicall"
    assert "result" in line, f"multicall/batch failed as a whole: {line}"
    entries = line["result"]
    wanted = [{"result": A + B}, {"result": abs(A - B)}]
    if text_values:
        wanted = as_perl_text(wanted)
    assert entries[:2] == wanted, entries
    assert len(entries) == 3, entries
    fault = entries[2].get("fault")
    assert fault, f"the failing call inside the batch is not a fault: {entries[2]}"
    assert int(fault["code"]) == SERVICE_ERROR and fault["message"] == "division by zero", fault


# -- finding and running clients --------------------------------------------------------


def require_tool(name: str, install: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: {install}", pytrace=False)
    return path


def require_perl_module(module: str, package: str) -> str:
    perl = require_tool("perl", f"{APT} perl")
    probe = subprocess.run([perl, f"-M{module}", "-e", "1"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.fail(f"Perl module {module} is missing: {APT} {package}\n"
                    f"{probe.stderr.decode(errors='replace')}", pytrace=False)
    return perl


def require_ruby_library(library: str, package: str) -> str:
    ruby = require_tool("ruby", f"{APT} ruby {package}")
    probe = subprocess.run([ruby, "-e", f"require {library!r}"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.fail(f"Ruby library {library} is missing: {APT} {package}\n"
                    f"{probe.stderr.decode(errors='replace')}", pytrace=False)
    return ruby


def require_php_extension(extension: str, package: str) -> str:
    php = require_tool("php", f"{APT} php-cli {package}")
    modules = subprocess.run([php, "-m"], capture_output=True, text=True, timeout=30).stdout
    if extension not in modules.split():
        pytest.fail(f"PHP extension {extension} is missing: {APT} {package}", pytrace=False)
    return php


def require_node_package(package: str) -> str:
    node = require_tool("node", f"{APT} nodejs npm")
    if not (HERE / "node_modules" / package / "package.json").is_file():
        pytest.fail(f"npm package {package} is missing: {NPM_HINT}", pytrace=False)
    return node


@dataclass
class ClientRun:
    results: dict[str, dict]
    stderr: str


def run_client(argv: list[str]) -> ClientRun:
    """Run one client program; its stdout is one JSON object per call."""
    completed = subprocess.run(argv, capture_output=True, timeout=CLIENT_TIMEOUT,
                               env=CLIENT_ENV, cwd=HERE, stdin=subprocess.DEVNULL)
    stdout = completed.stdout.decode("utf-8", errors="replace")
    stderr = completed.stderr.decode("utf-8", errors="replace")
    assert completed.returncode == 0, (
        f"{argv[0]} exited with {completed.returncode}\nstdout:\n{stdout}\nstderr:\n{stderr}")
    results = {}
    for raw in stdout.splitlines():
        if raw.strip():
            try:
                line = json.loads(raw)
            except ValueError:
                pytest.fail(f"not a JSON line from {argv[0]}: {raw!r}\nstderr:\n{stderr}")
            results[line["call"]] = line
    return ClientRun(results, stderr)


def program_args(url: str) -> list[str]:
    """The arguments every program takes: URL A B NAME LARGE_COUNT."""
    return [url, str(A), str(B), NAME, str(LARGE)]


def wide_args(url: str) -> list[str]:
    """The arguments of the issue 12 programs: URL A B NAME LARGE_COUNT MARKUP."""
    return [*program_args(url), MARKUP]
