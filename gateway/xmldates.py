"""The ``dateTime.iso8601`` forms real clients send, read into ``datetime``.

The XML-RPC spec shows one form, ``19980717T14:08:55``, and the stdlib reads
only that one into a ``datetime``. Clients send more: the compact
``19980717T140855`` (aXMLRPC), dashed ISO 8601 ``1998-07-17T14:08:55``, with
``Z`` or an offset, with fractional seconds (Apache's ``ex:dateTime``,
xmlrpc-c). The stdlib server does not parse these: it hands the text to the
method in a ``DateTime`` wrapper and echoes it verbatim.

Here the method sees a ``datetime`` for every form: naive when the text has
no zone, aware (a fixed ``timezone``) with ``Z`` or an offset, microseconds
from the fraction (truncated past six digits). A value read from any form
but the spec's is a ``WireDateTime``, which remembers the text it came in,
so a method that returns it unchanged (``ping``) echoes the same bytes, as
the stdlib server does; a ``datetime`` a method computes goes out in the
spec's form, which every client reads.
"""

from __future__ import annotations

import datetime
import re

_ISO_FORMS = re.compile(
    r"(\d{4})(-?)(\d\d)\2(\d\d)T(\d\d)(:?)(\d\d)\6(\d\d)"
    r"(?:[.,](\d+))?"
    r"(Z|[+-]\d\d(?::?\d\d)?)?", re.ASCII | re.IGNORECASE)


class WireDateTime(datetime.datetime):
    """A ``datetime`` that was read from ``text`` in element ``tag``.

    Arithmetic on it gives values without ``text`` (the class default None),
    which are written in the spec's form like any other ``datetime``.
    """

    text: str | None = None
    tag: str = "dateTime.iso8601"


def parse_datetime(text: str, tag: str = "dateTime.iso8601") -> datetime.datetime:
    """Read any accepted form; raise ValueError for anything else."""
    try:
        return datetime.datetime.strptime(text, "%Y%m%dT%H:%M:%S")  # the stdlib's own reading
    except ValueError:
        pass
    match = _ISO_FORMS.fullmatch(text.strip())
    if match is None:
        raise ValueError("not an ISO 8601 date and time")
    year, _, month, day, hour, _, minute, second, fraction, zone = match.groups()
    value = WireDateTime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                         int((fraction or "0")[:6].ljust(6, "0")), _timezone(zone))
    value.text, value.tag = text, tag
    return value


def _timezone(zone: str | None) -> datetime.timezone | None:
    if zone is None:
        return None
    if zone in "Zz":
        return datetime.timezone.utc
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + int(digits[2:] or "0")
    return datetime.timezone(sign * datetime.timedelta(minutes=minutes))
