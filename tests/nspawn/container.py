"""Boot the host's own systemd as PID 1 of a container, run commands in it, and always tear it down.

The recipe (measured on Debian 12, root, no systemd as the host's PID 1; see
operations.md in the shared reference notes):
- a private mount namespace (``unshare --mount --propagation private``) holding a
  non-recursive, read-only bind of ``/``: that is the container's root, so the
  host's Python and the project are there without copying anything;
- ``--volatile=state`` (a tmpfs /var), ``--overlay=/etc:UPPER:/etc`` (a writable
  /etc whose changes land in UPPER, a host directory the test fills first);
- ``--register=no --keep-unit``: no host systemd or D-Bus is needed;
- ``--private-network``: only a loopback, so fixed ports inside cannot collide;
- boot a dedicated target, so that services installed on the host do not start.

Rules: nspawn mounts a tmpfs on /tmp, so host paths under /tmp or /var that the
container needs are bound read-only (``needs``). Every wait is bounded by the
container's time budget. ``shutdown()`` powers off, then kills whatever is left.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

TARGET = "rpc-gateway-test.target"
TARGET_UNIT = """\
[Unit]
Description=rpc-gateway test boot: the basic system and nothing the host enables
Requires=basic.target
After=basic.target
"""
HIDDEN_BY_NSPAWN = ("/tmp", "/var")


def missing_tools() -> list[str]:
    return [tool for tool in ("systemd-nspawn", "unshare", "nsenter", "mount")
            if shutil.which(tool) is None]


def under(path: str, tops: tuple[str, ...]) -> bool:
    return any(path == top or path.startswith(top + "/") for top in tops)


class Container:
    """A booted container: ``run`` commands in all its namespaces, ``net`` in its network only."""

    def __init__(self, workdir: Path, etc_files: dict[str, str], needs: list[str],
                 budget: float) -> None:
        self.deadline = time.monotonic() + budget
        self.workdir = workdir
        self.name = f"rpcgw-{uuid.uuid4().hex[:10]}"
        self.upper = workdir / "etc-upper"
        self.root = workdir / "root"
        self.log = workdir / "nspawn.log"
        self.nspawn: subprocess.Popen | None = None
        self.pid1: int | None = None
        self.clients: list[subprocess.Popen] = []  # killed by shutdown() if still running
        self._write_etc({f"systemd/system/{TARGET}": TARGET_UNIT, **etc_files})
        self.binds = [p for p in needs if under(p, HIDDEN_BY_NSPAWN)]

    # -- life cycle -------------------------------------------------------------

    def boot(self) -> float:
        """Start the container and wait until systemd finished booting; returns seconds taken."""
        started = time.monotonic()
        self.root.mkdir()
        with open(self.log, "wb") as log:
            self.nspawn = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "sh", "-ec",
                 self._boot_script()],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        self.pid1 = self._wait_for_pid1()
        state = self._wait_for_boot()
        assert state in ("running", "degraded"), f"container boot ended {state!r}:\n" \
            + self.run("systemctl", "--failed", "--no-pager", check=False).stdout
        return time.monotonic() - started

    def _wait_for_boot(self) -> str:
        """systemd's state once booted.

        Until systemd is PID 1 and has its socket, systemctl says nothing or "offline".
        """
        give_up = time.monotonic() + 60
        while True:
            state = self.run("systemctl", "is-system-running", "--wait", check=False,
                             timeout=60).stdout.strip()
            if state not in ("", "offline"):
                return state
            assert time.monotonic() < give_up, f"systemd never came up:\n{self.log_tail()}"
            time.sleep(0.2)

    def _boot_script(self) -> str:
        root = shlex.quote(str(self.root))
        nspawn = ["systemd-nspawn", f"--directory={self.root}", f"--machine={self.name}",
                  "--volatile=state", "--register=no", "--keep-unit", "--private-network",
                  "--console=read-only", f"--overlay=/etc:{self.upper}:/etc",
                  *(f"--bind-ro={path}" for path in self.binds),
                  "--boot", f"systemd.unit={TARGET}"]
        return (f"mount --bind / {root}\n"
                f"mount -o remount,bind,ro {root}\n"
                f"exec {shlex.join(nspawn)}\n")

    def _wait_for_pid1(self) -> int:
        """The host pid of the container's PID 1: nspawn's child whose namespace pid is 1."""
        while True:
            self._check_alive("before its init started")
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit() and self._is_container_init(entry):
                    return int(entry.name)
            time.sleep(0.1)

    def _is_container_init(self, proc: Path) -> bool:
        try:
            status = (proc / "status").read_text()
        except OSError:
            return False
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        return (fields.get("PPid", "").strip() == str(self.nspawn.pid)
                and fields.get("NSpid", "").split()[-1:] == ["1"]
                and fields.get("Name", "").strip() == "systemd")  # exec'd, not nspawn's stub

    def _check_alive(self, when: str) -> None:
        if self.nspawn.poll() is not None:
            raise AssertionError(f"systemd-nspawn exited ({self.nspawn.returncode}) {when}:\n"
                                 + self.log_tail())
        if time.monotonic() > self.deadline:
            raise AssertionError(f"container over its time budget {when}:\n" + self.log_tail())

    def shutdown(self) -> None:
        """Power off (SIGTERM to nspawn), then kill the process group and the container's init."""
        for client in self.clients:
            if client.poll() is None:
                client.kill()
                client.wait(10)
        if self.nspawn is None:
            return
        if self.nspawn.poll() is None:
            self.nspawn.send_signal(signal.SIGTERM)
            try:
                self.nspawn.wait(15)
            except subprocess.TimeoutExpired:
                pass
        for kill in (lambda: os.killpg(self.nspawn.pid, signal.SIGKILL),
                     lambda: os.kill(self.pid1, signal.SIGKILL) if self.pid1 else None):
            try:
                kill()
            except (ProcessLookupError, PermissionError):
                pass
        self.nspawn.wait(10)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no nspawn log)"

    # -- inside -------------------------------------------------------------------

    def run(self, *command: str, check: bool = True, timeout: float = 30.0,
            input: str | None = None) -> subprocess.CompletedProcess:
        """Run a command in every namespace of the container (as `machinectl shell` would)."""
        return self._nsenter(["--all"], command, check, timeout, input)

    def net(self, *command: str, **popen: object) -> subprocess.Popen:
        """Start a host command inside the container's network namespace only."""
        self._check_alive(f"before {' '.join(command)}")
        process = subprocess.Popen(["nsenter", f"--target={self.pid1}", "--net", "--",
                                    *command], **popen)
        self.clients.append(process)
        return process

    def _nsenter(self, namespaces: list[str], command: tuple[str, ...], check: bool,
                 timeout: float, input: str | None) -> subprocess.CompletedProcess:
        self._check_alive(f"before {' '.join(command)}")
        timeout = min(timeout, max(1.0, self.deadline - time.monotonic()))
        result = subprocess.run(["nsenter", f"--target={self.pid1}", *namespaces, "--",
                                 *command], input=input, capture_output=True, text=True,
                                timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(command)} exited {result.returncode}:\n"
                                 f"{result.stdout}{result.stderr}")
        return result

    def write(self, path: str, text: str) -> None:
        """Write a file as the container sees it (through its mount namespace)."""
        target = Path(f"/proc/{self.pid1}/root") / path.lstrip("/")
        target.write_text(text)

    def read(self, path: str) -> str:
        return (Path(f"/proc/{self.pid1}/root") / path.lstrip("/")).read_text()

    def _write_etc(self, files: dict[str, str]) -> None:
        for relative, text in files.items():
            path = self.upper / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            path.chmod(0o644)  # the service's dynamic user must read its configuration
