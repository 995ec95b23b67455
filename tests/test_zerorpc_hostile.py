"""Bad input on the zerorpc front: every malformed message dropped or answered with ERR,
logged once, and the front still serving (a real gateway, a raw pyzmq DEALER)."""

from __future__ import annotations

import logging
import time

import msgpack
import pytest

from tests.support.scrape import settled, url_of, value
from tests.support.zerorpc_clients import RawPeer

SLOW = ["handlers.calculator:Calculator", "slow=tests.support.services:Slow"]


def pack(*parts) -> bytes:
    return msgpack.packb(list(parts), use_bin_type=True)


HEAD = {"message_id": b"m" * 32, "v": 3}
DROPPED = [  # (case, frames): no reply can be addressed, so none is sent
    ("one frame, no delimiter", [b"garbage"]),
    ("no empty delimiter", [b"x", pack(HEAD, "add", [1, 2])]),
    ("empty payload", [b"", b""]),
    ("not msgpack", [b"", b"\xc1\xc1\xc1"]),
    ("invalid utf-8 string", [b"", b"\x93\x81\xaamessage_id\xa1m\xa3\xff\xfe\xfd\x90"]),
    ("trailing bytes", [b"", pack(HEAD, "add", [1, 2]) + b"\x00"]),
    ("a map, not an array", [b"", msgpack.packb({"a": 1})]),
    ("two elements", [b"", pack(HEAD, "add")]),
    ("four elements", [b"", pack(HEAD, "add", [1, 2], None)]),
    ("header not a map", [b"", pack([1], "add", [1, 2])]),
    ("no message_id", [b"", pack({"v": 3}, "add", [1, 2])]),
    ("integer message_id", [b"", pack({"message_id": 7, "v": 3}, "add", [1, 2])]),
    ("empty message_id", [b"", pack({"message_id": b"", "v": 3}, "add", [1, 2])]),
    ("10 kB message_id", [b"", pack({"message_id": b"m" * 10000, "v": 3}, "add", [1, 2])]),
    ("response_to a list", [b"", pack({**HEAD, "response_to": [1]}, "add", [1, 2])]),
    ("response_to no open call", [b"", pack({**HEAD, "response_to": b"nope"}, "add", [1])]),
    ("late heartbeat", [b"", pack({**HEAD, "response_to": b"gone"}, "_zpc_hb", [0])]),
    ("integer map keys", [b"", pack(HEAD, "ping", [{1: 2}])]),
    ("50000 nested arrays", [b"", b"\x91" * 50000 + b"\xc0"]),  # under the size limit
    ("4G-element array header", [b"", b"\xdd\xff\xff\xff\xff\x01"]),
]
ANSWERED = [  # (case, payload, ERR name)
    ("no version", pack({"message_id": b"a1"}, "add", [1, 2]), "UnsupportedVersion"),
    ("version 2", pack({"message_id": b"a2", "v": 2}, "add", [1, 2]), "UnsupportedVersion"),
    ("version 4", pack({"message_id": b"a3", "v": 4}, "add", [1, 2]), "UnsupportedVersion"),
    ("version '3'", pack({"message_id": b"a4", "v": "3"}, "add", [1, 2]), "UnsupportedVersion"),
    ("version true", pack({"message_id": b"a5", "v": True}, "add", [1, 2]),
     "UnsupportedVersion"),
    ("integer name", pack({"message_id": b"a6", "v": 3}, 7, [1, 2]), "InvalidRequest"),
    ("empty name", pack({"message_id": b"a7", "v": 3}, "", [1, 2]), "InvalidRequest"),
    ("args a map", pack({"message_id": b"a8", "v": 3}, "add", {"a": 1}), "InvalidRequest"),
    ("args a string", pack({"message_id": b"a9", "v": 3}, "add", "12"), "InvalidRequest"),
    ("unknown method", pack({"message_id": b"b1", "v": 3}, "nope", []), "MethodNotFound"),
    ("private name", pack({"message_id": b"b2", "v": 3}, "_secret", []), "MethodNotFound"),
    ("str message_id", pack({"message_id": "b3", "v": 3}, "add", [1]), "InvalidParams"),
]


@pytest.fixture
def front(make_gateway):
    server = make_gateway(zerorpc__listen=["tcp://127.0.0.1:0"], zerorpc__heartbeat=0.5,
                          zerorpc__max_channels_per_peer=5, zerorpc__threads=2,
                          zerorpc__queue_size=2, zerorpc__max_message_bytes=65536,
                          service__services=SLOW)
    return server


@pytest.mark.parametrize("case,frames", DROPPED, ids=[c for c, _ in DROPPED])
def test_malformed_messages_are_dropped_and_the_peer_is_still_served(front, case, frames):
    with RawPeer(front.zerorpc_endpoints[0]) as peer:
        peer.send_frames(*frames)
        assert peer.receive(timeout=0.3) is None
        assert peer.call("add", [1, 2]) == ("OK", [3])


@pytest.mark.parametrize("case,payload,name", ANSWERED, ids=[c for c, _, _ in ANSWERED])
def test_wrong_events_are_answered_with_err(front, case, payload, name):
    with RawPeer(front.zerorpc_endpoints[0]) as peer:
        peer.send_frames(b"", payload)
        header, event, args = peer.receive(timeout=5)
        assert event == "ERR" and args[0] == name and len(args) == 3
        assert header["response_to"] == msgpack.unpackb(payload)[0]["message_id"]
        assert header["v"] == 3 and header["message_id"]
        assert "Traceback" not in args[2] and ".py" not in args[2]
        assert peer.call("add", [1, 2]) == ("OK", [3])


def test_the_whole_catalogue_then_a_successful_call(front):
    with RawPeer(front.zerorpc_endpoints[0]) as peer:
        for _, frames in DROPPED:
            peer.send_frames(*frames)
        for _, payload, _ in ANSWERED:
            peer.send_frames(b"", payload)
        assert peer.call("hello", ["after"], timeout=10) == ("OK", ["Hello, after"])
    with RawPeer(front.zerorpc_endpoints[0]) as other:
        assert other.call("add", [2, 2]) == ("OK", [4])


def test_response_to_is_echoed_with_its_type(front):
    with RawPeer(front.zerorpc_endpoints[0]) as peer:
        for message_id in (b"\x00\xffbin", "6f2baa6b-8304-4bea-a2ee-000000000000"):
            peer.send_event("add", [1, 2], message_id=message_id)
            header, name, args = peer.reply_to(message_id)
            assert (name, args) == ("OK", [3])
            assert header["response_to"] == message_id
            assert type(header["response_to"]) is type(message_id)


def test_bad_input_is_logged_once_per_peer(front, caplog):
    caplog.set_level(logging.WARNING, logger="gateway.zerorpc")
    with RawPeer(front.zerorpc_endpoints[0]) as peer:
        for _ in range(200):
            peer.send_frames(b"", b"\xc1")
        assert peer.call("add", [1, 2], timeout=10) == ("OK", [3])
    warnings = [r for r in caplog.records if "not msgpack" in r.getMessage()]
    assert len(warnings) == 1


def test_a_message_over_the_size_limit_closes_only_that_connection(front):
    with RawPeer(front.zerorpc_endpoints[0]) as big, \
            RawPeer(front.zerorpc_endpoints[0]) as other:
        big.send_event("ping", ["x" * 100000])
        assert big.receive(timeout=1) is None
        assert other.call("add", [1, 2]) == ("OK", [3])


def test_a_flood_of_channels_from_one_peer_is_refused_past_the_limit(front):
    with RawPeer(front.zerorpc_endpoints[0]) as flood, \
            RawPeer(front.zerorpc_endpoints[0]) as other:
        for i in range(5):  # open streams the peer never drains: 5 channels held open
            flood.send_event("streaming_range", [0, 10 ** 9, 1], message_id=b"s%d" % i)
            assert flood.reply_to(b"s%d" % i)[1] == "STREAM"
        name, args = flood.call("add", [1, 2])
        assert name == "ERR" and args[0] == "TooManyChannels"
        assert other.call("add", [1, 2]) == ("OK", [3])
    samples = settled(url_of(front), "rpc_gateway_call_errors_total", 1, protocol="zerorpc",
                      method="add", code="TooManyChannels")
    assert value(samples, "rpc_gateway_call_errors_total", protocol="zerorpc", method="add",
                 code="TooManyChannels") == 1


def test_past_threads_plus_queue_calls_get_err_busy(front):
    with RawPeer(front.zerorpc_endpoints[0]) as peer:
        ids = [peer.send_event("slow.sleep", [1.5], message_id=b"c%d" % i) for i in range(6)]
        replies = {}
        deadline = time.monotonic() + 15
        while len(replies) < 6 and time.monotonic() < deadline:
            for message_id in ids:  # this peer is alive: it heartbeats its calls
                peer.send_event("_zpc_hb", [0], response_to=message_id)
            event = peer.receive(timeout=0.2)
            if event and event[1] != "_zpc_hb":
                replies[event[0]["response_to"]] = event
        names = sorted(replies[i][1] + ":" + str(replies[i][2][0]) for i in ids)
        assert names == ["ERR:Busy", "ERR:Busy", "OK:1.5", "OK:1.5", "OK:1.5", "OK:1.5"]
        assert "4 calls running or queued" in replies[ids[-1]][2][1]
    sleep = {"protocol": "zerorpc", "method": "slow.sleep"}  # refusals count as calls too
    samples = settled(url_of(front), "rpc_gateway_calls_total", 6, **sleep)
    assert value(samples, "rpc_gateway_calls_total", **sleep) == 6
    assert value(samples, "rpc_gateway_call_errors_total", code="Busy", **sleep) == 2


def test_a_flood_of_garbage_does_not_delay_another_peer(front):
    with RawPeer(front.zerorpc_endpoints[0]) as flood, \
            RawPeer(front.zerorpc_endpoints[0]) as other:
        for _ in range(20000):
            flood.send_frames(b"", b"\xc1")
        started = time.monotonic()
        assert other.call("add", [1, 2], timeout=10) == ("OK", [3])
        assert time.monotonic() - started < 5  # generous: the loop reads fairly


def test_access_allow_networks_applies_to_zerorpc_peers(make_gateway, caplog):
    caplog.set_level(logging.WARNING, logger="gateway.zerorpc")
    server = make_gateway(zerorpc__listen=["tcp://127.0.0.1:0"],
                          access__allow_networks=["10.0.0.0/8"])
    with RawPeer(server.zerorpc_endpoints[0]) as peer:
        peer.send_event("add", [1, 2])
        assert peer.receive(timeout=1) is None
    assert any("not in access.allow_networks" in r.getMessage() for r in caplog.records)
    allowed = make_gateway(zerorpc__listen=["tcp://127.0.0.1:0"],
                           access__allow_networks=["127.0.0.0/8"])
    with RawPeer(allowed.zerorpc_endpoints[0]) as peer:
        assert peer.call("add", [1, 2]) == ("OK", [3])
