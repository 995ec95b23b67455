"""Operating the zerorpc front: heartbeats, vanished clients, graceful stop, reload,
workers, ipc endpoints and configuration checks, all with real gateways and clients."""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import threading
import time
import xmlrpc.client

import pytest

from gateway.auth import hash_secret
from tests.conftest import start_gateway, stop_gateway
from tests.support.processes import ROOT, Daemon
from tests.support.services import Streams
from tests.support.zerorpc_clients import RawPeer, endpoint_of, run_client, start_client

SERVICES = ["handlers.calculator:Calculator", "slow=tests.support.services:Slow",
            "streams=tests.support.services:Streams", "c=tests.support.services:Counting"]


def wait_until(condition, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


LONG_CALL = '''
import sys, time, zerorpc
c = zerorpc.Client(timeout=30)  # the default heartbeat: 5 s, lost after 10-15 s of silence
c.connect(sys.argv[1])
started = time.monotonic()
print(c("slow.sleep", 17), round(time.monotonic() - started))
'''
QUICK_CALLS = '''
import sys, time, zerorpc
c = zerorpc.Client(timeout=10)
c.connect(sys.argv[1])
time.sleep(2)
worst = 0.0
for _ in range(5):
    started = time.monotonic()
    assert c.hello("x") == "Hello, x"
    worst = max(worst, time.monotonic() - started)
    time.sleep(1)
print(worst < 2.0)
'''


def test_a_call_longer_than_the_heartbeat_window_survives_and_blocks_nobody(tmp_path):
    daemon = Daemon(tmp_path, ["--bind", "127.0.0.1:0", "--zerorpc", "tcp://127.0.0.1:0",
                               *[arg for spec in SERVICES for arg in ("--service", spec)]])
    try:
        endpoint = endpoint_of(daemon)
        other = start_client(QUICK_CALLS, endpoint)
        try:
            assert run_client(LONG_CALL, endpoint, timeout=60) == "17 17\n"
            out, err = other.communicate(timeout=30)
            assert out == "True\n", err[-2000:]
        finally:
            other.kill()
            other.wait(5)
    finally:
        assert daemon.stop() == 0


@pytest.fixture
def quick():
    """In-process gateway with a 0.5 s heartbeat, so losing a peer takes ~1.5 s."""
    server, thread = start_gateway(zerorpc__listen=["tcp://127.0.0.1:0"],
                                   zerorpc__heartbeat=0.5, service__services=SERVICES)
    try:
        yield server
    finally:
        stop_gateway(server, thread)


VANISHING = '''
import sys, gevent, zerorpc
c = zerorpc.Client(timeout=10, heartbeat=0.5)
c.connect(sys.argv[1])
for item in c("streams.forever"):
    if item == 1000:
        print("halfway", flush=True)
        gevent.sleep(120)  # wait here, heartbeating, until killed
'''


def test_a_vanished_client_is_noticed_and_its_stream_freed(quick):
    Streams.closed.clear()
    client = subprocess.Popen([sys.executable, "-c", VANISHING, quick.zerorpc_endpoints[0]],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert client.stdout.readline() == "halfway\n"
        time.sleep(2)  # alive and heartbeating: the stream stays open
        assert len(quick.zerorpc.channels) == 1 and not Streams.closed.is_set()
    finally:
        client.kill()
        client.wait(5)
    assert wait_until(lambda: len(quick.zerorpc.channels) == 0, 10)
    assert Streams.closed.wait(5), "the abandoned generator was never closed"
    assert quick.zerorpc.in_flight == 0


def test_a_vanished_client_during_a_long_call_is_freed(quick):
    with RawPeer(quick.zerorpc_endpoints[0]) as peer:
        peer.send_event("slow.sleep", [2.5])
        assert wait_until(lambda: len(quick.zerorpc.channels) == 1, 5)
    assert wait_until(lambda: len(quick.zerorpc.channels) == 0, 5)  # lost, call still running
    assert wait_until(lambda: quick.zerorpc.in_flight == 0, 10)  # its result discarded
    with RawPeer(quick.zerorpc_endpoints[0]) as peer:
        assert peer.call("add", [1, 2]) == ("OK", [3])


def heartbeating_reply(peer: RawPeer, message_id: bytes, timeout: float = 15.0):
    """Wait for the answer to ``message_id``, heartbeating it like a live client."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        peer.send_event("_zpc_hb", [0], response_to=message_id)
        event = peer.receive(timeout=0.2)
        if event and event[0].get("response_to") == message_id and event[1] != "_zpc_hb":
            return event
    return None


def test_graceful_stop_answers_calls_in_flight_and_ends_streams():
    server, thread = start_gateway(zerorpc__listen=["tcp://127.0.0.1:0"],
                                   service__services=SERVICES)
    endpoint = server.zerorpc_endpoints[0]
    try:
        with RawPeer(endpoint) as caller, RawPeer(endpoint) as streamer, \
                RawPeer(endpoint) as late:
            streamer.send_event("streaming_range", [0, 10 ** 9, 1], message_id=b"stream")
            assert streamer.reply_to(b"stream")[1] == "STREAM"
            caller.send_event("slow.sleep", [1.5], message_id=b"slow")
            time.sleep(0.3)
            finished = []
            stopper = threading.Thread(target=lambda: finished.append(server.shutdown(10)))
            stopper.start()
            ended = streamer.reply_to(b"stream")
            assert ended[1] == "ERR" and ended[2][0] == "GatewayStopping"
            name, args = late.call("add", [1, 2])
            assert name == "ERR" and args[0] == "GatewayStopping"
            header, name, args = heartbeating_reply(caller, b"slow")
            assert (name, args) == ("OK", [1.5])
            stopper.join(15)
            assert finished == [True]
    finally:
        stop_gateway(server, thread)


def write_config(path, **zerorpc) -> None:
    lines = [f"{key} = {value!r}".replace("'", '"') for key, value in zerorpc.items()]
    path.write_text("[zerorpc]\n" + "\n".join(lines) + "\n")


def test_sighup_applies_the_zerorpc_limits(tmp_path):
    config = tmp_path / "gateway.toml"
    write_config(config, listen=["tcp://127.0.0.1:0"], max_list_items=5)
    daemon = Daemon(tmp_path, ["--bind", "127.0.0.1:0", "--config", str(config)])
    try:
        proxy = xmlrpc.client.ServerProxy(daemon.url)
        with pytest.raises(xmlrpc.client.Fault) as fault:
            proxy.streaming_range(0, 6, 1)
        assert fault.value.faultCode == -32602
        write_config(config, listen=["tcp://127.0.0.1:0"], max_list_items=10,
                     max_channels_per_peer=1)
        daemon.signal(signal.SIGHUP)
        assert wait_until(lambda: "reloaded configuration" in daemon.stderr(), 10)
        assert proxy.streaming_range(0, 6, 1) == [0, 1, 2, 3, 4, 5]
        with RawPeer(endpoint_of(daemon)) as peer:
            peer.send_event("streaming_range", [0, 100, 1], message_id=b"held")
            assert peer.reply_to(b"held")[1] == "STREAM"
            name, args = peer.call("add", [1, 2])
            assert name == "ERR" and args[0] == "TooManyChannels"
    finally:
        assert daemon.stop() == 0


def test_a_reload_applies_the_heartbeat_to_the_running_front(make_gateway):
    from gateway.config import load_config
    server = make_gateway(zerorpc__listen=["tcp://127.0.0.1:0"], service__services=SERVICES)
    server.apply(load_config(overrides={"zerorpc.listen": ["tcp://127.0.0.1:0"],
                                        "zerorpc.heartbeat": 0.5,
                                        "service.services": SERVICES},
                             use_default_path=False, environ={}))
    with RawPeer(server.zerorpc_endpoints[0]) as peer:  # silent: lost after ~1.5 s, not 15
        peer.send_event("slow.sleep", [4])
        assert wait_until(lambda: len(server.zerorpc.channels) == 1, 5)
        started = time.monotonic()
        assert wait_until(lambda: len(server.zerorpc.channels) == 0, 10)
        assert time.monotonic() - started < 4


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


WHOAMI = '''
import sys, zerorpc
c = zerorpc.Client(timeout=10)
c.connect(sys.argv[1])
print(sorted({c("c.whoami") for _ in range(20)}), c.add(1, 2))
'''


def test_with_workers_zerorpc_is_served_by_worker_0(tmp_path):
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    daemon = Daemon(tmp_path, ["--bind", "127.0.0.1:0", "--workers", "2", "--zerorpc",
                               endpoint, "--service", "c=tests.support.services:Counting"])
    try:
        answers = {run_client(WHOAMI, endpoint) for _ in range(3)}
        assert len(answers) == 1, answers  # one process serves every zerorpc call
        assert answers.pop().endswith(" 3\n")
        assert daemon.stderr().count(f"zerorpc on {endpoint}") == 1
    finally:
        assert daemon.stop() == 0


def test_an_ipc_endpoint_serves_the_notes_client(tmp_path):
    path = tmp_path / "zerorpc.sock"
    daemon = Daemon(tmp_path, ["--bind", "127.0.0.1:0", "--zerorpc", f"ipc://{path}"])
    try:
        assert endpoint_of(daemon) == f"ipc://{path}"
        code = ('import zerorpc\nc = zerorpc.Client()\nc.connect("ADDRESS")\n'
                'print(c.hello("RPC"))\n')
        assert run_client(code.replace("ADDRESS", f"ipc://{path}")) == "Hello, RPC\n"
    finally:
        assert daemon.stop() == 0
    assert not path.exists()


def run_gateway(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway", *args], capture_output=True,
                          text=True, timeout=30, cwd=ROOT)


def test_check_config_validates_zerorpc_endpoints(tmp_path):
    config = tmp_path / "gateway.toml"
    write_config(config, listen=["tcp://127.0.0.1:4242", "ipc:///run/x.sock"], heartbeat=2.5)
    assert run_gateway("--check-config", "--config", str(config)).returncode == 0
    for bad in ("tcp://127.0.0.1", "udp://127.0.0.1:1", "tcp://127.0.0.1:70000", "4242"):
        write_config(config, listen=[bad])
        done = run_gateway("--check-config", "--config", str(config))
        assert done.returncode == 1 and "[zerorpc] listen" in done.stderr, (bad, done.stderr)
    done = run_gateway("--check-config", "--zerorpc", "tcp://nowhere")
    assert done.returncode == 1 and "[zerorpc] listen" in done.stderr


def test_an_endpoint_in_use_is_a_clear_start_up_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_gateway("--bind", "127.0.0.1:0", "--zerorpc", f"tcp://127.0.0.1:{port}")
    assert done.returncode == 1
    assert "cannot listen: cannot bind zerorpc endpoint" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_star_port_binds_a_free_port_and_auth_is_said_not_to_apply(make_gateway, caplog):
    caplog.set_level(logging.WARNING, logger="gateway.server")
    server = make_gateway(zerorpc__listen=["tcp://127.0.0.1:*"],
                          auth__tokens=[hash_secret("token")])
    endpoint = server.zerorpc_endpoints[0]
    assert endpoint.startswith("tcp://127.0.0.1:") and endpoint.rsplit(":", 1)[1].isdigit()
    with RawPeer(endpoint) as peer:
        assert peer.call("add", [1, 2]) == ("OK", [3])
    assert any("[auth] does not apply" in r.getMessage() for r in caplog.records)
