"""The shipped systemd units: systemd's own checkers accept them, and they say what the daemon needs.

Rules checked here:
- ``systemd-analyze verify`` prints nothing at all: it exits 0 on unknown keys
  and bad values, so any stderr output is a failure.
- ``systemd-analyze security --offline=true`` rates the service 2.0 or less.
- ``verify`` refuses a unit whose ExecStart does not exist, so it checks copies
  whose ExecStart is the ``rpc-gateway`` console script installed next to the
  Python running the tests (the venv of tests/run.sh, or any other).
- The unit and the daemon agree: Type=notify with the daemon's sd_notify, the
  stop timeout above the drain timeout, the socket on the default address.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import DEFAULT_PATH, SCHEMA

UNITS = Path(__file__).resolve().parents[1] / "systemd"
SHIPPED_BINARY = "/opt/rpc-gateway/bin/rpc-gateway"
EXPOSURE_BOUND = 2.0


def systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    assert path, "systemd-analyze is missing: install the systemd package (tests/run.sh does)"
    return path


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Sections of a unit file; a key given twice keeps both values, in order."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def installed_copies(directory: Path) -> tuple[Path, Path]:
    """The two units as they would be installed from the venv running these tests."""
    console_script = Path(sys.executable).parent / "rpc-gateway"
    assert console_script.exists(), f"no console script at {console_script}: pip install -e ."
    service_text = (UNITS / "rpc-gateway.service").read_text()
    assert SHIPPED_BINARY in service_text
    service = directory / "rpc-gateway.service"
    socket_unit = directory / "rpc-gateway.socket"
    service.write_text(service_text.replace(SHIPPED_BINARY, str(console_script)))
    shutil.copy(UNITS / "rpc-gateway.socket", socket_unit)
    return service, socket_unit


def verify(*units: Path) -> subprocess.CompletedProcess:
    return subprocess.run([systemd_analyze(), "verify", "--man=false", *map(str, units)],
                          capture_output=True, text=True, timeout=60)


def exposure(unit: Path) -> tuple[float, subprocess.CompletedProcess]:
    result = subprocess.run(
        [systemd_analyze(), "security", "--offline=true", "--threshold=20", str(unit)],
        capture_output=True, text=True, timeout=60)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, f"no exposure level in:\n{result.stdout}\n{result.stderr}"
    return float(match.group(1)), result


@pytest.fixture
def units(tmp_path) -> tuple[Path, Path]:
    return installed_copies(tmp_path)


def test_verify_prints_nothing_for_the_shipped_units(units):
    result = verify(*units)
    assert result.stderr == "", result.stderr
    assert result.returncode == 0


def test_verify_output_would_catch_a_mistake(units):
    """The check above can fail: verify reports a misspelt key (and still exits 0)."""
    service, _ = units
    service.write_text(service.read_text() + "\n[Service]\nTimeoutStopSecs=35\n")
    result = verify(service)
    assert "TimeoutStopSecs" in result.stderr


def test_security_exposure_is_within_the_bound(units):
    service, _ = units
    level, result = exposure(service)
    assert level <= EXPOSURE_BOUND, result.stdout
    assert result.returncode == 0, result.stdout + result.stderr


def test_security_bound_would_catch_a_bare_unit(tmp_path):
    bare = tmp_path / "bare.service"
    bare.write_text(f"[Service]\nExecStart={Path(sys.executable)}\n")
    level, result = exposure(bare)
    assert level > EXPOSURE_BOUND and result.returncode != 0


def test_service_unit_matches_the_daemon():
    unit = parse_unit((UNITS / "rpc-gateway.service").read_text())
    service = unit["Service"]
    assert service["Type"] == ["notify"]
    assert service["NotifyAccess"] == ["main"]
    assert service["ExecStart"] == [f"{SHIPPED_BINARY} --config {DEFAULT_PATH}"]
    # Rule: the configuration is checked before the daemon is signalled, so that
    # `systemctl reload` fails on a broken file.
    assert service["ExecReload"] == [f"{SHIPPED_BINARY} --check-config --config {DEFAULT_PATH}",
                                     "/bin/kill -HUP $MAINPID"]
    assert service["Restart"] == ["on-failure"]
    assert service["WatchdogSec"] == ["30"]
    assert service["SyslogIdentifier"] == ["rpc-gateway"]
    assert "PYTHONUNBUFFERED=1" in service["Environment"]
    drain = SCHEMA["server"]["drain_timeout"][0]
    assert drain < int(service["TimeoutStopSec"][0]) <= drain + 15


def test_service_and_socket_are_tied_the_right_way():
    service = parse_unit((UNITS / "rpc-gateway.service").read_text())
    socket_unit = parse_unit((UNITS / "rpc-gateway.socket").read_text())
    assert "rpc-gateway.socket" in service["Unit"]["Requires"][0].split()
    assert "rpc-gateway.socket" in " ".join(service["Unit"]["After"]).split()
    assert service["Install"]["Also"] == ["rpc-gateway.socket"]
    # Rule: no PartOf= (or BindsTo=) on the socket, or stopping the service
    # would stop the socket and nothing would start the service again.
    assert not {"PartOf", "BindsTo"} & set(socket_unit["Unit"])
    assert socket_unit["Socket"]["ListenStream"] == SCHEMA["server"]["listen"][0]
    assert socket_unit["Install"]["WantedBy"] == ["sockets.target"]
