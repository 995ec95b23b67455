"""A counting service whose side effect comes before the wait.

``Counting.record`` waits, then writes. Here the write comes first, so a gateway
killed during the wait has executed the call but not answered it: exactly the
call a load balancer must not send to another gateway. A retry of it shows up
as two lines for one call id in the count file.
"""

from __future__ import annotations

import time

from tests.support.services import Counting

COUNT_FILE_ENV = "RPC_GATEWAY_TEST_COUNT_FILE"  # read by Counting.record


class CountingThenWait(Counting):
    """``Counting`` plus ``record_then_wait``; ``whoami`` and ``record`` are inherited."""

    def record_then_wait(self, call_id: str, seconds: float = 0.0) -> int:
        """Append ``call_id`` to the count file, wait ``seconds`` (at most 10), return the pid."""
        pid = self.record(call_id)
        time.sleep(min(float(seconds), 10.0))
        return pid
