"""The zerorpc event codec and channel rules on their own, and flow control on the wire
(a real gateway and a raw DEALER that counts exactly what it is sent)."""

from __future__ import annotations

import time

import msgpack
import pytest

from gateway.zerorpc_channels import MAX_GRANT, Channels
from gateway.zerorpc_wire import BadEvent, check_encodable, decode, encode, error_args
from tests.support.zerorpc_clients import RawPeer


def test_replies_carry_version_3_a_fresh_id_and_the_channel_id_as_sent():
    for channel_id in (b"\x00bin", "text-id"):
        header, name, args = msgpack.unpackb(encode("OK", [1], channel_id), raw=False)
        assert (name, args, header["v"], header["response_to"]) == ("OK", [1], 3, channel_id)
        assert len(header["message_id"]) == 32
    first = msgpack.unpackb(encode("OK", [1], b"x"))[0]["message_id"]
    assert msgpack.unpackb(encode("OK", [1], b"x"))[0]["message_id"] != first


def test_err_has_exactly_three_strings():
    assert error_args("Busy", "wait") == ["Busy", "wait", "Busy: wait"]


@pytest.mark.parametrize("value", [{1: 2}, [{"a": {(1, 2): 3}}], [[[]]] * 3 + [{None: 1}]])
def test_maps_with_non_string_keys_are_refused_before_sending(value):
    with pytest.raises(ValueError, match="map key"):
        check_encodable(value)


def test_decode_accepts_both_clients_ids_and_refuses_the_rest():
    event = decode(msgpack.packb([{"message_id": "n-1", "v": 3, "response_to": b"r"},
                                  "_zpc_more", [100]]))
    assert (event.message_id, event.response_to, event.name, event.args) == (
        "n-1", b"r", "_zpc_more", [100])
    with pytest.raises(BadEvent) as bad:
        decode(msgpack.packb([{"message_id": "n-1", "v": 2}, "add", []]))
    assert bad.value.answerable and bad.value.reply_name == "UnsupportedVersion"
    with pytest.raises(BadEvent) as bad:
        decode(msgpack.packb([{"v": 3}, "add", []]))
    assert not bad.value.answerable


def test_a_silent_peer_is_lost_two_periods_after_the_first_tick():
    channels = Channels(heartbeat=5.0, max_per_peer=10)
    channel = channels.open(((b"id",), b"m"), None, "add", "peer", now=100.0)
    assert channels.sweep(104.0) == ([], [])
    assert channels.sweep(105.0) == ([channel], [])  # first tick: heartbeat, clock starts
    assert channels.sweep(114.9) == ([channel], [])
    assert channels.sweep(115.1) == ([], [channel]) and len(channels) == 0


def test_a_heard_peer_stays_and_grants_are_set_not_added():
    channels = Channels(heartbeat=5.0, max_per_peer=10)
    channel = channels.open(((b"id",), b"m"), None, "s", "peer", now=0.0)
    for now in range(1, 60):
        channel.heard = float(now)
        assert channels.sweep(float(now))[1] == []
    channel.grant([100])
    channel.grant([60])
    assert channel.slots == 60
    channel.grant([10 ** 9])
    assert channel.slots == MAX_GRANT
    channel.grant(["x"])
    assert channel.slots == MAX_GRANT


@pytest.fixture
def front(make_gateway):
    return make_gateway(zerorpc__listen=["tcp://127.0.0.1:0"])


def items_for(peer: RawPeer, message_id: bytes, quiet: float = 0.5) -> list:
    """Every STREAM item (and a DONE marker) that arrives until ``quiet`` s of silence."""
    items = []
    while (event := peer.receive(timeout=quiet)) is not None:
        header, name, args = event
        if header.get("response_to") == message_id and name in ("STREAM", "STREAM_DONE"):
            items.append(args if name == "STREAM" else "DONE")
    return items


def test_a_stream_never_sends_past_the_slots_the_client_opened(front):
    with RawPeer(front.zerorpc_endpoints[0]) as peer:
        peer.send_event("streaming_range", [0, 1000, 1], message_id=b"s")
        assert items_for(peer, b"s") == [0]  # the initial slot only, then nothing
        peer.send_event("_zpc_more", [10], response_to=b"s")
        assert items_for(peer, b"s") == list(range(1, 11))
        peer.send_event("_zpc_more", [5], response_to=b"s")
        assert items_for(peer, b"s") == list(range(11, 16))
        peer.send_event("_zpc_more", [0], response_to=b"s")
        assert items_for(peer, b"s") == []
        peer.send_event("_zpc_more", [MAX_GRANT], response_to=b"s")
        got = items_for(peer, b"s")
        assert got == list(range(16, 1000)) + ["DONE"]  # DONE takes a slot like an item


def test_interleaved_streams_on_one_socket_stay_apart(front):
    with RawPeer(front.zerorpc_endpoints[0]) as peer:
        peer.send_event("streaming_range", [0, 300, 1], message_id=b"a")
        peer.send_event("streaming_range", [1000, 1300, 1], message_id=b"b")
        deadline = time.monotonic() + 10
        got = {b"a": [], b"b": []}
        done = set()
        while done != {b"a", b"b"} and time.monotonic() < deadline:
            header, name, args = peer.receive(timeout=5)
            channel = header["response_to"]
            if name == "STREAM":
                got[channel].append(args)
                if len(got[channel]) % 50 == 1:
                    peer.send_event("_zpc_more", [100], response_to=channel)
            elif name == "STREAM_DONE":
                done.add(channel)
        assert got == {b"a": list(range(300)), b"b": list(range(1000, 1300))}
