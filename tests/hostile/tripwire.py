"""A module no test imports: if a request ever makes the gateway import it, the test knows.

Importing it, or instantiating ``Tripwire``, writes to the file named by the
``HOSTILE_TRIPWIRE_FILE`` environment variable. A jsonrpclib class hint naming
``tests.hostile.tripwire.Tripwire`` would do both if hints were honoured.
"""

import os


def _trip(what: str) -> None:
    path = os.environ.get("HOSTILE_TRIPWIRE_FILE")
    if path:
        with open(path, "a") as handle:
            handle.write(what + "\n")


_trip("imported")


class Tripwire:
    """Instantiating this is what a class hint would do."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        _trip("instantiated")
