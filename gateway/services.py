"""Loading what is served from ``module:attribute`` specs."""

from __future__ import annotations

import importlib
import inspect
from typing import Any


def load_service(spec: str, max_int_bits: int) -> tuple[str, object]:
    """``[prefix=]module:attribute`` -> (prefix, service object).

    A class is instantiated once (given ``max_int_bits`` when its constructor
    takes it, and then expected to keep it as its ``max_int_bits`` attribute, which
    a reload sets); an instance or a module is used as it is.
    """
    prefix, _, target = spec.rpartition("=")
    module_name, _, attribute = target.partition(":")
    value: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        value = getattr(value, part)
    if inspect.isclass(value):
        takes_limit = "max_int_bits" in inspect.signature(value).parameters
        value = value(max_int_bits=max_int_bits) if takes_limit else value()
    return prefix, value


def load_services(specs: tuple[str, ...], max_int_bits: int) -> list[tuple[str, object]]:
    return [load_service(spec, max_int_bits) for spec in specs]


def apply_max_int_bits(services: list[tuple[str, object]], max_int_bits: int) -> None:
    """A reload's ``limits.max_int_bits``, for every service that was built with the limit."""
    for _, service in services:
        if not inspect.ismodule(service) and hasattr(service, "max_int_bits"):
            service.max_int_bits = max_int_bits  # type: ignore[attr-defined]
