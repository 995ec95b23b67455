"""The shipped units under a real systemd 252: booted with systemd-nspawn, driven with systemctl.

What only a real service manager can show: the socket unit starts the service
on the first call, the sandbox lets the daemon run (as a dynamic user),
``systemctl reload`` with a broken configuration fails while the same process
keeps serving, ``systemctl stop`` lets a call in flight finish, and journald
files the gateway's errors at error priority.

The units are the shipped files; only the binary path is rewritten to the
``rpc-gateway`` console script of the venv running this test, and a test drop-in
adds what the test environment needs (PYTHONPATH for the test service, and
read-only binds for a venv or Python that the sandbox would hide).
Budget: about 90 s, usually far less; the container is torn down whatever happens.
This test fails, never skips, when the machine cannot run it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.nspawn.container import Container, missing_tools, under

ROOT = Path(__file__).resolve().parents[1]
UNITS = ROOT / "systemd"
SHIPPED_BINARY = "/opt/rpc-gateway/bin/rpc-gateway"
PORT = 8080  # the shipped socket's port; the container has its own network namespace
SERVICE = "rpc-gateway.service"
GOOD_CONFIG = """\
[service]
services = ["handlers.calculator:Calculator", "slow=tests.support.services:Slow"]
[server]
drain_timeout = 20.0
"""
BROKEN_CONFIG = GOOD_CONFIG + "[limits]\nmax_dept = 3\n"
HIDDEN_FROM_SERVICES = ("/tmp", "/var/tmp", "/home", "/root", "/run/user")


def python_paths() -> list[str]:
    """What the daemon's Python needs: the venv, the interpreter it was made from, the project."""
    paths = sorted({sys.prefix, sys.base_prefix, str(ROOT)})
    return [p for p in paths if not any(p != q and under(p, (q,)) for q in paths)]


def drop_in_for_tests(needs: list[str]) -> str:
    """The test's additions to the shipped service: nothing that changes its behaviour."""
    hidden = [p for p in needs if under(p, HIDDEN_FROM_SERVICES)]
    lines = ["[Service]", f"Environment=PYTHONPATH={ROOT}"]
    if hidden:
        lines.append("BindReadOnlyPaths=" + " ".join(hidden))
    if any(under(p, ("/home", "/root", "/run/user")) for p in hidden):
        lines.append("ProtectHome=tmpfs")  # =yes hides the path; tmpfs lets the bind in
    return "\n".join(lines) + "\n"


def etc_files() -> dict[str, str]:
    console_script = Path(sys.executable).parent / "rpc-gateway"
    assert console_script.exists(), f"no console script at {console_script}: pip install -e ."
    service = (UNITS / SERVICE).read_text()
    assert SHIPPED_BINARY in service
    return {
        f"systemd/system/{SERVICE}": service.replace(SHIPPED_BINARY, str(console_script)),
        "systemd/system/rpc-gateway.socket": (UNITS / "rpc-gateway.socket").read_text(),
        f"systemd/system/{SERVICE}.d/test.conf": drop_in_for_tests(python_paths()),
        "rpc-gateway/gateway.toml": GOOD_CONFIG,
    }


@pytest.fixture
def container(tmp_path):
    assert os.geteuid() == 0, "booting a container takes root (CI runs tests/run.sh as root)"
    missing = missing_tools()
    assert not missing, f"missing {missing}: install systemd-container (tests/run.sh does)"
    box = Container(tmp_path, etc_files(), python_paths(), budget=90)
    try:
        print(f"container booted in {box.boot():.1f} s")
        yield box
    finally:
        box.shutdown()


def show(box: Container, unit: str, *properties: str) -> dict[str, str]:
    out = box.run("systemctl", "show", unit, "--property=" + ",".join(properties)).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def call(box: Container, method: str, *params: object) -> subprocess.Popen:
    """Start an XML-RPC call inside the container; its stdout says 'in flight', then the result."""
    return box.net(sys.executable, str(ROOT / "tests" / "nspawn" / "client.py"), str(PORT),
                   method, json.dumps(params), stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE, text=True)


def result_of(client: subprocess.Popen, timeout: float = 30.0) -> object:
    out, err = client.communicate(timeout=timeout)
    assert client.returncode == 0, f"client failed: {out}{err}"
    return json.loads(out.splitlines()[-1])


def journal(box: Container, *options: str) -> str:
    return box.run("journalctl", f"--unit={SERVICE}", "--no-pager", "--output=cat",
                   *options).stdout


def test_shipped_units_under_a_real_systemd(container):
    main_pid = the_first_call_starts_the_service(container)
    a_broken_reload_fails_and_the_same_process_serves_on(container, main_pid)
    stop_lets_the_call_in_flight_finish(container)
    the_journal_has_the_errors_at_error_priority(container)


def the_first_call_starts_the_service(box: Container) -> str:
    box.run("systemctl", "enable", "--now", "rpc-gateway.socket")
    assert show(box, SERVICE, "ActiveState")["ActiveState"] == "inactive"
    assert result_of(call(box, "add", 2, 3)) == 5
    state = show(box, SERVICE, "ActiveState", "SubState", "MainPID")
    assert (state["ActiveState"], state["SubState"]) == ("active", "running")
    status = box.read(f"/proc/{state['MainPID']}/status")
    assert "\nUid:\t0\t" not in status, "the sandbox should run the daemon as a dynamic user"
    return state["MainPID"]


def a_broken_reload_fails_and_the_same_process_serves_on(box: Container, main_pid: str) -> None:
    box.write("/etc/rpc-gateway/gateway.toml", BROKEN_CONFIG)
    reload = box.run("systemctl", "reload", SERVICE, check=False)
    assert reload.returncode != 0, "reload with a broken configuration succeeded"
    # The daemon refuses the file too when signalled without the unit's check.
    box.run("systemctl", "kill", "--kill-whom=main", "--signal=SIGHUP", SERVICE)
    assert result_of(call(box, "add", 4, 5)) == 9
    state = show(box, SERVICE, "ActiveState", "MainPID")
    assert state == {"ActiveState": "active", "MainPID": main_pid}
    box.write("/etc/rpc-gateway/gateway.toml", GOOD_CONFIG)


def stop_lets_the_call_in_flight_finish(box: Container) -> None:
    slow = call(box, "slow.sleep", 3)
    assert slow.stdout.readline().strip() == "in flight", slow.stderr.read()
    box.run("systemctl", "stop", SERVICE, timeout=60)
    assert result_of(slow) == 3
    # Inactive: the old process answered; no second activation did.
    assert show(box, SERVICE, "ActiveState")["ActiveState"] == "inactive"
    assert show(box, "rpc-gateway.socket", "ActiveState")["ActiveState"] == "active"


def the_journal_has_the_errors_at_error_priority(box: Container) -> None:
    """The daemon's own refusal and the unit's check are errors; its info lines are not."""
    errors = journal(box, "--priority=err")
    refusals = [line for line in errors.splitlines()
                if "reload refused" in line and "max_dept" in line]
    assert refusals, f"no error-priority refusal in the journal:\n{journal(box)}"
    # The unit's --check-config before the signal, which made `systemctl reload` fail.
    assert "configuration has 1 error(s)" in errors, journal(box)
    assert "serving XML-RPC" not in errors and "serving XML-RPC" in journal(box)
    assert "slow.sleep ok" in journal(box, "--identifier=rpc-gateway")
