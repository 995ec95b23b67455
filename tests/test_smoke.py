"""The first thing a user does: call both protocols on one port."""

import signal
import time
import xmlrpc.client

import jsonrpclib


def test_both_protocols_share_one_port_and_one_instance(gateway, url):
    assert xmlrpc.client.ServerProxy(url).add(2, 3) == 5
    assert jsonrpclib.ServerProxy(url).add(5, 6) == 11
    assert gateway.xml_server.instance is gateway.json_server.instance


def test_daemon_serves_and_stops_cleanly(daemon):
    process = daemon()
    assert xmlrpc.client.ServerProxy(process.url).hello("RPC") == "Hello, RPC"
    assert process.stop() == 0
    process.wait_for("STOPPING=1")  # raises unless the daemon sent it before it exited


def test_a_burst_of_signals_never_wedges_the_daemon(daemon):
    """Handlers take no lock: a signal landing while the main thread waits cannot deadlock it.

    (With a threading.Event the handler's set() could wait forever for the lock the
    interrupted wait() held; a stopped test once left such a worker behind.)
    """
    process = daemon()
    for _ in range(300):
        process.signal(signal.SIGHUP)
        time.sleep(0.001)
    assert xmlrpc.client.ServerProxy(process.url).add(2, 3) == 5
    assert process.stop(timeout=30) == 0
