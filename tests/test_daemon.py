"""The daemon as systemd runs it: readiness, signals, reload, socket activation, config checks, logs.

Every test starts the real ``python -m gateway`` process and talks to it over
real sockets: notifications arrive on a test-owned ``NOTIFY_SOCKET`` (with
``SO_PASSCRED``, so a test can check which pid sent them, as
``NotifyAccess=main`` does), calls go through ``xmlrpc.client``.
Rules checked:
- READY=1 is sent only once every listener accepts, by the main process.
- SIGTERM: STOPPING=1, calls in flight finish with their result, exit 0.
- SIGHUP: a valid file is applied without refusing a connection; an invalid one
  changes nothing, is logged naming the key, and the daemon keeps serving.
- Socket activation: the daemon serves the socket it is given and binds nothing.
- A broken configuration exits 1 before anything is bound, naming the key.
- Under journald (JOURNAL_STREAM names stderr) each line carries its <N> priority.
"""

from __future__ import annotations

import functools
import http.client
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import xmlrpc.client
from pathlib import Path

import jsonrpclib
import pytest

from tests.support.processes import stop_all

ROOT = Path(__file__).resolve().parents[1]
NESTED = [[[1]]]  # depth 3: accepted by default, refused when limits.max_depth = 2
SLOW = "tests.support.services:Slow"


# -- notifications ----------------------------------------------------------------

def receive_until(sock: socket.socket, needle: str, log: list[str],
                  timeout: float = 20.0) -> tuple[str, int | None]:
    """The next datagram containing ``needle`` and its sender's pid; earlier ones go to ``log``.

    The pid is None unless SO_PASSCRED was set before the datagram was sent.
    """
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no {needle!r} within {timeout} s; received: {log}")
        sock.settimeout(remaining)
        try:
            data, ancillary, _, _ = sock.recvmsg(65536, socket.CMSG_SPACE(12))
        except socket.timeout:
            continue
        message = data.decode()
        log.append(message)
        if needle in message:
            return message, sender_pid(ancillary)


def pass_credentials(sock: socket.socket) -> None:
    """From now on each datagram carries its sender's pid (set it before the sender sends)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)


def sender_pid(ancillary: list) -> int | None:
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            return struct.unpack("3i", payload[:12])[0]
    return None


class NotifySocket:
    """A NOTIFY_SOCKET for processes the ``daemon`` fixture cannot start."""

    def __init__(self, directory: Path) -> None:
        self.path = str(directory / "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        pass_credentials(self.sock)
        self.messages: list[str] = []

    def receive(self, needle: str, timeout: float = 20.0) -> tuple[str, int | None]:
        return receive_until(self.sock, needle, self.messages, timeout)

    def close(self) -> None:
        self.sock.close()


def listening_addresses(ready: str) -> list[str]:
    """``STATUS=listening on A, B; ...`` -> ["A", "B"]."""
    status = next(line for line in ready.splitlines() if line.startswith("STATUS="))
    return status.split("listening on ", 1)[1].split(";")[0].split(", ")


def reload(process) -> str:
    """SIGHUP, then wait for RELOADING=1 and the READY=1 that ends the reload."""
    process.signal(signal.SIGHUP)
    receive_until(process.notify, "RELOADING=1", process.messages)
    return receive_until(process.notify, "READY=1", process.messages)[0]


# -- clients ----------------------------------------------------------------------

def connect(address: str, timeout: float = 5.0) -> socket.socket:
    """Connect once, no retry: refused means not listening."""
    if address.startswith("unix:"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(address[len("unix:"):])
        return sock
    host, port = address.rsplit(":", 1)
    return socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)


def health(url: str) -> dict:
    host, port = url[len("http://"):].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request("GET", "/healthz", headers={"Connection": "close"})
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def wait_for_calls_in_flight(url: str, count: int, timeout: float = 10.0) -> None:
    """Until ``count`` calls are being run by the gateway's threads."""
    deadline = time.monotonic() + timeout
    while health(url)["in_flight"] < count:
        assert time.monotonic() < deadline, f"fewer than {count} calls in flight after {timeout} s"
        time.sleep(0.05)


class ClientLoop:
    """Calls ``add`` over a new connection each time, in a thread, recording every failure."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.successes = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="client-loop")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                assert xmlrpc.client.ServerProxy(self.url).add(self.successes, 1) \
                    == self.successes + 1
                self.successes += 1
            except Exception as error:  # every kind of failure counts, none may happen
                self.failures.append(repr(error))

    def wait_for(self, successes: int, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while self.successes < successes:
            assert time.monotonic() < deadline, f"client loop stuck: {self.failures}"
            time.sleep(0.02)

    def __enter__(self) -> "ClientLoop":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(20)
        assert not self._thread.is_alive(), "the client loop did not stop"


def wait_for_text(path: Path, needle: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while needle not in (text := path.read_text()):
        assert time.monotonic() < deadline, f"{needle!r} never appeared in {path}:\n{text}"
        time.sleep(0.05)
    return text


# -- processes the daemon fixture cannot start ----------------------------------------

def clean_environment(**extra: str) -> dict[str, str]:
    """The test's environment without anything systemd or the gateway would read."""
    dropped = ("RPC_GATEWAY_", "LISTEN_", "NOTIFY_SOCKET", "WATCHDOG_", "JOURNAL_STREAM")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env.update(PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", **extra)
    return env


def stop_process(process: subprocess.Popen, timeout: float = 30.0) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
        raise AssertionError(f"pid {process.pid} did not stop within {timeout} s")


@pytest.fixture
def spawn():
    """spawn(argv, env, stderr_path, pass_fds=()) -> Popen; every process is stopped after."""
    started: list[subprocess.Popen] = []

    def start(argv: list[str], env: dict[str, str], stderr_path: Path,
              pass_fds: tuple[int, ...] = ()) -> subprocess.Popen:
        with open(stderr_path, "ab") as stderr:
            process = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=stderr,
                                       pass_fds=pass_fds)
        started.append(process)
        return process

    yield start
    stop_all(functools.partial(stop_process, process) for process in started)


@pytest.fixture
def notify_socket(tmp_path):
    sock = NotifySocket(tmp_path)
    yield sock
    sock.close()


def gateway_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "gateway", *args]


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# -- readiness and stop -------------------------------------------------------------

def test_ready_comes_once_every_listener_accepts(daemon, tmp_path):
    config = write(tmp_path / "gateway.toml",
                   f'[server]\nlisten = ["127.0.0.1:0", "unix:{tmp_path}/gateway.sock"]\n')
    process = daemon("--config", str(config), bind=False)
    # daemon() returned the moment READY=1 arrived: connect now, without retrying.
    addresses = listening_addresses(process.wait_for("READY=1"))
    assert len(addresses) == 2
    for address in addresses:
        connect(address).close()
    assert xmlrpc.client.ServerProxy(process.url).add(2, 3) == 5


def test_sigterm_sends_stopping_from_the_main_process_and_exits_0(daemon):
    process = daemon()
    pass_credentials(process.notify)
    process.signal(signal.SIGTERM)
    message, pid = receive_until(process.notify, "STOPPING=1", process.messages)
    assert pid == process.process.pid
    assert process.stop() == 0


def test_a_call_in_flight_during_sigterm_finishes_with_its_result(daemon):
    process = daemon("--service", SLOW)
    outcome: dict = {}
    caller = threading.Thread(target=lambda: outcome.update(
        result=xmlrpc.client.ServerProxy(process.url).sleep(2)))
    caller.start()
    try:
        wait_for_calls_in_flight(process.url, 1)  # the slow call is running
        process.signal(signal.SIGTERM)
        process.wait_for("STOPPING=1")
    finally:
        caller.join(20)
    assert outcome.get("result") == 2
    assert process.stop() == 0


def test_watchdog_pings_at_half_the_interval_from_the_main_process(daemon):
    process = daemon(env={"WATCHDOG_USEC": "1000000"})
    pass_credentials(process.notify)
    receive_until(process.notify, "WATCHDOG=1", process.messages, timeout=10)  # maybe sent before
    pings = [receive_until(process.notify, "WATCHDOG=1", process.messages, timeout=10)
             for _ in range(3)]
    assert {pid for _, pid in pings} == {process.process.pid}


# -- reload -------------------------------------------------------------------------

def test_sighup_applies_a_valid_config_without_refusing_a_connection(daemon, tmp_path):
    config = write(tmp_path / "gateway.toml", '[limits]\nmax_depth = 64\n')
    process = daemon("--config", str(config))
    proxy = xmlrpc.client.ServerProxy(process.url)
    assert proxy.ping(NESTED) == NESTED
    proxy.hello("before")
    wait_for_text(process.stderr_path, " hello ")  # access lines are on at level info
    with ClientLoop(process.url) as clients:
        clients.wait_for(5)
        config.write_text('[limits]\nmax_depth = 2\n[logging]\nlevel = "warning"\n')
        ready = reload(process)
        clients.wait_for(clients.successes + 5)
    assert clients.failures == []
    assert "reload failed" not in ready
    with pytest.raises(xmlrpc.client.Fault) as refused:
        proxy.ping(NESTED)
    assert refused.value.faultCode == -32600
    proxy.listinfo("after")
    time.sleep(1)
    assert " listinfo " not in process.stderr(), "access line logged at level warning"
    assert process.stop() == 0


@pytest.mark.parametrize("workers", [1, 2])
def test_sighup_applies_max_int_bits_and_queue_size_and_names_restart_keys(
        daemon, tmp_path, workers):
    config = write(tmp_path / "gateway.toml", f"[server]\nworkers = {workers}\n")
    process = daemon("--config", str(config))
    assert jsonrpclib.ServerProxy(process.url).pow(2, 1000) == 2 ** 1000
    config.write_text(f"[server]\nworkers = {workers}\nqueue_size = 0\nxmlrpc_threads = 2\n"
                      "[limits]\nmax_int_bits = 100\n")
    assert "reload failed" not in reload(process)
    wait_for_text(process.stderr_path, "reload: server.xmlrpc_threads changed")
    for _ in range(20):  # fresh connections: every worker has applied it
        with pytest.raises(jsonrpclib.jsonrpc.ProtocolError) as refused:
            jsonrpclib.ServerProxy(process.url).pow(2, 1000)
        code, message = refused.value.args[0][:2]
        assert code == -32602 and "100" in message
    log = process.stderr()
    assert log.count("takes effect on restart") == 1, "one warning, from one process"
    assert "max_int_bits" not in log and "queue_size" not in log, "applied, so not warned"
    assert process.stop() == 0


def test_sighup_with_an_invalid_config_keeps_serving_and_names_the_key(daemon, tmp_path):
    config = write(tmp_path / "gateway.toml", '[limits]\nmax_depth = 64\n')
    process = daemon("--config", str(config))
    config.write_text('[limits]\nmax_depth = 2\nmax_dept = 3\n')
    with ClientLoop(process.url) as clients:
        clients.wait_for(3)
        ready = reload(process)
        clients.wait_for(clients.successes + 3)
    assert clients.failures == []
    assert "reload failed" in ready
    # Nothing of the refused file is applied, not even its valid keys.
    assert xmlrpc.client.ServerProxy(process.url).ping(NESTED) == NESTED
    refusals = [line for line in process.stderr().splitlines() if "max_dept" in line]
    assert refusals and all("ERROR" in line for line in refusals), process.stderr()
    assert process.process.poll() is None
    assert process.stop() == 0


# -- socket activation -----------------------------------------------------------------

def unused_port() -> int:
    """A port free a moment ago; only for tools that must bind by number themselves."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_socket_activate(spawn, stderr: Path, notify: NotifySocket,
                          config: Path) -> tuple[subprocess.Popen, int]:
    tool = shutil.which("systemd-socket-activate")
    assert tool, "systemd-socket-activate is missing: install systemd (tests/run.sh does)"
    for _ in range(3):  # another process may take the port between probe and bind
        port = unused_port()
        process = spawn([tool, "-l", f"127.0.0.1:{port}", "--fdname=gateway",
                         "-E", f"NOTIFY_SOCKET={notify.path}", "-E", f"PYTHONPATH={ROOT}",
                         "-E", "PYTHONUNBUFFERED=1",
                         *gateway_command("--config", str(config))],
                        clean_environment(), stderr)
        deadline = time.monotonic() + 10
        while process.poll() is None and time.monotonic() < deadline:
            if f"Listening on 127.0.0.1:{port}" in stderr.read_text():
                return process, port
            time.sleep(0.05)
        stop_process(process)
    raise AssertionError(f"systemd-socket-activate never listened:\n{stderr.read_text()}")


def test_socket_activation_under_systemd_socket_activate(spawn, notify_socket, tmp_path):
    own = tmp_path / "own.sock"  # where the daemon would listen if it ignored LISTEN_FDS
    config = write(tmp_path / "gateway.toml", f'[server]\nlisten = ["unix:{own}"]\n')
    stderr = tmp_path / "stderr.log"
    process, port = start_socket_activate(spawn, stderr, notify_socket, config)
    # The first call starts the daemon; it waits in systemd-socket-activate's backlog.
    assert xmlrpc.client.ServerProxy(f"http://127.0.0.1:{port}").add(2, 3) == 5
    ready, pid = notify_socket.receive("READY=1")
    assert listening_addresses(ready) == [f"127.0.0.1:{port}"]
    assert pid == process.pid  # systemd-socket-activate execs the daemon in place
    assert not own.exists()
    assert stop_process(process) == 0, stderr.read_text()


# Hands the socket at fd N (argv[1]) over as fd 3 and execs argv[2:], as systemd does.
EXEC_SHIM = """
import os, sys
fd = int(sys.argv[1])
if fd != 3:
    os.dup2(fd, 3)
    os.close(fd)
os.set_inheritable(3, True)
os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS="1", LISTEN_FDNAMES="gateway")
os.execv(sys.argv[2], sys.argv[2:])
"""


def test_socket_activation_through_an_exec_shim(spawn, notify_socket, tmp_path):
    own = tmp_path / "own.sock"
    config = write(tmp_path / "gateway.toml", f'[server]\nlisten = ["unix:{own}"]\n')
    listener = socket.socket()
    with listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        port = listener.getsockname()[1]
        process = spawn([sys.executable, "-c", EXEC_SHIM, str(listener.fileno()),
                         *gateway_command("--config", str(config))],
                        clean_environment(NOTIFY_SOCKET=notify_socket.path),
                        tmp_path / "stderr.log", pass_fds=(listener.fileno(),))
    # Rule: our copy is closed now, so a dead daemon means a refused call, not a hang.
    ready, pid = notify_socket.receive("READY=1")
    assert pid == process.pid
    assert listening_addresses(ready) == [f"127.0.0.1:{port}"]
    assert xmlrpc.client.ServerProxy(f"http://127.0.0.1:{port}").add(2, 3) == 5
    assert not own.exists()
    assert stop_process(process) == 0


# -- configuration checks ---------------------------------------------------------------

def check_config(config: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(gateway_command("--check-config", "--config", str(config)),
                          cwd=ROOT, env=clean_environment(**env), capture_output=True,
                          text=True, timeout=30)


def test_check_config_accepts_the_shipped_example():
    result = check_config(ROOT / "conf" / "gateway.toml")
    assert result.returncode == 0, result.stderr
    assert "is valid" in result.stdout


BROKEN_CONFIGS = {
    # validation class: (file text, environment, words the message must contain)
    "unknown key": ('[limits]\nmax_dept = 3\n', {}, ["max_dept"]),
    "wrong type": ('[limits]\nmax_depth = "deep"\n', {}, ["max_depth", "integer"]),
    "bad value": ('[server]\ndrain_timeout = -1\n', {}, ["drain_timeout", "-1"]),
    "bad TOML": ('[limits]\nmax_depth = = 3\n', {}, ["line 2", "max_depth"]),
    "unknown section": ('[limit]\nmax_depth = 3\n', {}, ["limit"]),
    "bad environment value": ('', {"RPC_GATEWAY_LIMITS_MAX_DEPTH": "deep"},
                              ["RPC_GATEWAY_LIMITS_MAX_DEPTH", "max_depth"]),
    "unknown environment key": ('', {"RPC_GATEWAY_LIMITS_MAX_DEPT": "3"},
                                ["RPC_GATEWAY_LIMITS_MAX_DEPT"]),
}


@pytest.mark.parametrize("case", BROKEN_CONFIGS)
def test_check_config_rejects_a_broken_config_naming_the_key(case, tmp_path):
    text, env, words = BROKEN_CONFIGS[case]
    config = write(tmp_path / "gateway.toml", text)
    result = check_config(config, **env)
    assert result.returncode == 1, result.stdout + result.stderr
    problems = [line for line in result.stderr.splitlines() if "error(s)" not in line]
    assert problems, result.stderr
    assert all(line.startswith("rpc-gateway: ") for line in problems), result.stderr
    for word in words:
        assert word in result.stderr, result.stderr
    if not case.startswith(("bad environment", "unknown environment")):
        assert str(config) in result.stderr, "the message must name the file"


NOT_UTF8 = b"[limits]\nmax_depth = 3  # caf\xe9 in Latin-1\n"


def test_a_config_file_that_is_not_utf8_is_refused_without_a_traceback(tmp_path):
    config = tmp_path / "gateway.toml"
    config.write_bytes(NOT_UTF8)
    result = check_config(config)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and str(config) in result.stderr, result.stderr


def test_sighup_with_a_config_that_is_not_utf8_keeps_the_daemon_in_control(daemon, tmp_path):
    config = write(tmp_path / "gateway.toml", '[limits]\nmax_depth = 64\n')
    process = daemon("--config", str(config))
    config.write_bytes(NOT_UTF8)
    process.signal(signal.SIGHUP)
    try:
        ready = receive_until(process.notify, "READY=1", process.messages, timeout=5)[0]
    except AssertionError:
        process.process.kill()  # it would ignore the fixture's SIGTERM for 30 s
        raise
    assert "reload failed" in ready
    assert process.stop() == 0


def test_a_broken_config_stops_the_daemon_before_it_binds(tmp_path):
    sock = tmp_path / "gateway.sock"
    config = write(tmp_path / "gateway.toml",
                   f'[server]\nlisten = ["unix:{sock}"]\n[limits]\nmax_dept = 3\n')
    result = subprocess.run(gateway_command("--config", str(config)), cwd=ROOT,
                            env=clean_environment(), capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 1
    assert "max_dept" in result.stderr
    assert not sock.exists()


# -- journald priorities -----------------------------------------------------------------

def journal_stream_of(path: Path) -> str:
    info = os.stat(path)
    return f"{info.st_dev}:{info.st_ino}"


def test_log_lines_carry_journald_priorities_when_stderr_is_the_journal(
        spawn, notify_socket, tmp_path):
    config = write(tmp_path / "gateway.toml", '[limits]\nmax_depth = 64\n')
    stderr = write(tmp_path / "stderr.log", "")
    env = clean_environment(NOTIFY_SOCKET=notify_socket.path,
                            JOURNAL_STREAM=journal_stream_of(stderr))
    process = spawn(gateway_command("--bind", "127.0.0.1:0", "--config", str(config)),
                    env, stderr)
    notify_socket.receive("READY=1")
    config.write_text('[limits]\nmax_dept = 3\n')
    process.send_signal(signal.SIGHUP)
    assert "reload failed" in notify_socket.receive("READY=1")[0]
    assert stop_process(process) == 0
    lines = stderr.read_text().splitlines()
    assert all(line[:3] in {f"<{n}>" for n in range(8)} for line in lines), lines
    assert any(line.startswith("<3>") and "max_dept" in line for line in lines), lines
    assert any(line.startswith("<6>") and "serving" in line for line in lines), lines


def test_log_lines_have_no_priority_when_stderr_is_not_the_journal(
        spawn, notify_socket, tmp_path):
    stderr = write(tmp_path / "stderr.log", "")
    other = write(tmp_path / "other.log", "")
    env = clean_environment(NOTIFY_SOCKET=notify_socket.path,
                            JOURNAL_STREAM=journal_stream_of(other))
    process = spawn(gateway_command("--bind", "127.0.0.1:0"), env, stderr)
    notify_socket.receive("READY=1")
    assert stop_process(process) == 0
    text = stderr.read_text()
    assert "serving" in text and "<6>" not in text, text


def test_configuration_errors_are_error_priority_under_journald(tmp_path):
    config = write(tmp_path / "gateway.toml", '[limits]\nmax_dept = 3\n')
    stderr = write(tmp_path / "stderr.log", "")
    with open(stderr, "ab") as stream:
        result = subprocess.run(gateway_command("--check-config", "--config", str(config)),
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stream,
                                env=clean_environment(JOURNAL_STREAM=journal_stream_of(stderr)),
                                timeout=30)
    assert result.returncode == 1
    lines = stderr.read_text().splitlines()
    assert lines and all(line.startswith("<3>") for line in lines), lines
