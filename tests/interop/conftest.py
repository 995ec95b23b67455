"""The wire recorder every interop test puts between its client and the gateway."""

from __future__ import annotations

import pytest

from tests.interop.wire import WireRecorder


@pytest.fixture
def wire(gateway):
    recorder = WireRecorder(gateway.server_address[:2])
    try:
        yield recorder
    finally:
        recorder.close()
