"""Configuration: one immutable object, from defaults < TOML file < environment < CLI.

Every key has a default, a validator and a one-line description (``SCHEMA``);
``conf/gateway.toml`` documents the same keys and a test keeps the two equal.
Unknown keys, wrong types and bad values are all reported, each naming where
the value came from, before anything is bound.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from types import SimpleNamespace
from typing import Any, Callable

DEFAULT_PATH = "/etc/rpc-gateway/gateway.toml"
ENV_PREFIX = "RPC_GATEWAY_"


class ConfigError(Exception):
    """One or more configuration problems, each as 'origin: what is wrong'."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


# -- validators: take a value, return it normalised or raise ValueError ---------------

def _int(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {_kind(value)}")
        if not low <= value <= high:
            raise ValueError(f"expected an integer from {low} to {high}, got {value}")
        return value
    return check


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number of seconds, got {_kind(value)}")
    if not 0 < value <= 86400:
        raise ValueError(f"expected seconds between 0 and 86400, got {value}")
    return float(value)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {_kind(value)}")
    return value


def _choice(*choices: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str) or value.lower() not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
        return value.lower()
    return check


def _workers(value: Any) -> int:
    if value == "auto":
        return os.cpu_count() or 1
    return _int(1, 256)(value)


def _mode(value: Any) -> int:
    if not isinstance(value, str) or not re.fullmatch(r"0?[0-7]{3}", value):
        raise ValueError(f'expected an octal mode string such as "0660", got {value!r}')
    return int(value, 8)


_ADDRESS = re.compile(r"(?:unix:(?P<path>/.+)|\[(?P<v6>[0-9a-fA-F:.]+)\]:(?P<p6>\d+)"
                      r"|(?P<host>[^:\[\]]*):(?P<port>\d+))")


def parse_address(text: str) -> tuple[str, Any]:
    """``HOST:PORT``, ``[V6]:PORT`` or ``unix:/path`` -> (family name, address)."""
    match = _ADDRESS.fullmatch(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f'expected "HOST:PORT", "[IPV6]:PORT" or "unix:/path", got {text!r}')
    if match["path"]:
        return "unix", match["path"]
    port = int(match["p6"] or match["port"])
    if port > 65535:
        raise ValueError(f"port {port} is out of range")
    if match["v6"]:
        return "ipv6", (match["v6"], port)
    return "ipv4", (match["host"] or "0.0.0.0", port)


def _addresses(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ValueError("expected a non-empty list of addresses")
    for item in value:
        parse_address(item)
    return tuple(value)


def _services(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ValueError("expected a non-empty list of module:attribute specs")
    for item in value:
        if not isinstance(item, str) or not re.fullmatch(
                r"(?:[A-Za-z][\w]*=)?[\w.]+:[\w.]+", item):
            raise ValueError(f'expected "module:attribute" or "prefix=module:attribute", '
                             f"got {item!r}")
    return tuple(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {_kind(value)}")
    return value


def _rate(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"expected a number of calls per second >= 0, got {value!r}")
    return float(value)


def _strings(check: Callable[[str], Any], what: str) -> Callable[[Any], tuple[str, ...]]:
    def validate(value: Any) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise ValueError(f"expected a list of {what}, got {_kind(value)}")
        for item in value:
            try:
                if not isinstance(item, str) or check(item) is False:
                    raise ValueError
            except ValueError:
                raise ValueError(f"expected a list of {what}; {item!r} is not one") from None
        return tuple(value)
    return validate


def _users(value: Any) -> dict[str, str]:
    from gateway.auth import valid_hash
    if not isinstance(value, dict):
        raise ValueError(f"expected a table of user = \"hash\", got {_kind(value)}")
    for user, stored in value.items():
        if not valid_hash(stored):
            raise ValueError(f"user {user!r}: expected a hash from `rpc-gateway hash-password`")
    return dict(value)


def _hash(item: str) -> bool:
    from gateway.auth import valid_hash
    return valid_hash(item)


def _kind(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)


MiB = 1 << 20
SCHEMA: dict[str, dict[str, tuple[Any, Callable[[Any], Any], str]]] = {
    "server": {
        "listen": (["127.0.0.1:8080"], _addresses,
                   'addresses: "HOST:PORT", "[IPV6]:PORT" or "unix:/path"'),
        "unix_socket_mode": ("0660", _mode, "permissions of Unix socket listeners"),
        "workers": (1, _workers, 'worker processes; "auto" = one per core'),
        "xmlrpc_threads": (16, _int(1, 1024), "threads of the XML-RPC server"),
        "jsonrpc_threads": (16, _int(1, 1024), "threads of the JSON-RPC server's pool"),
        "queue_size": (64, _int(0, 100000), "complete requests that may wait for a thread; "
                                            "past it HTTP 503"),
        "max_connections": (10000, _int(1, 1000000), "open connections at once"),
        "drain_timeout": (30.0, _seconds, "on stop, how long calls in flight may take"),
    },
    "service": {
        "services": (["handlers.calculator:Calculator"], _services,
                     'what is served: "module:attribute", or "prefix=module:attribute" '
                     "for a namespace"),
    },
    "limits": {
        "max_body_bytes": (4 * MiB, _int(1024, 1 << 34), "request body as sent"),
        "max_decompressed_bytes": (16 * MiB, _int(1024, 1 << 34),
                                   "request body after gzip/deflate"),
        "max_header_bytes": (16384, _int(256, 1 << 20), "request line and headers"),
        "max_headers": (100, _int(1, 10000), "header lines per request"),
        "max_request_line": (8192, _int(64, 1 << 20), "request line length"),
        "max_depth": (64, _int(1, 500), "nesting of arrays/structs/objects in a request"),
        "max_calls": (100, _int(1, 100000), "calls in one batch or system.multicall"),
        "max_int_bits": (14000, _int(64, 1 << 20), "bits of an integer the calculator "
                                                   "may compute"),
        "header_timeout": (10.0, _seconds, "seconds for a request's headers to arrive"),
        "body_timeout": (30.0, _seconds, "seconds for a request's body to arrive"),
        "idle_timeout": (60.0, _seconds, "seconds an idle keep-alive connection is kept"),
        "write_timeout": (30.0, _seconds, "seconds a response may take to be read"),
    },
    "http": {
        "gzip_min_bytes": (8192, _int(0, 1 << 30), "gzip responses from this size when the "
                                                   "client accepts gzip"),
    },
    "tls": {
        "certfile": ("", _text, "PEM certificate (chain); empty = plain HTTP"),
        "keyfile": ("", _text, "PEM private key; empty = inside certfile"),
    },
    "auth": {
        "users": ({}, _users, 'Basic auth users: name = "hash from rpc-gateway hash-password"'),
        "tokens": ([], _strings(_hash, "token hashes"), "bearer tokens, hashed the same way"),
        "realm": ("rpc-gateway", _text, "realm named in WWW-Authenticate"),
    },
    "access": {
        "allow_networks": ([], _strings(lambda n: ipaddress.ip_network(n, strict=False),
                                        "CIDR networks"),
                           "clients allowed to connect; empty = everyone"),
        "allowed_origins": ([], _strings(lambda o: bool(o), "origins"),
                            'browser origins allowed (e.g. "https://app.example"); '
                            "requests with another Origin get 403"),
        "rate": (0.0, _rate, "calls per second per client address; 0 = unlimited"),
        "burst": (20, _int(1, 1000000), "calls a client may make at once above the rate"),
    },
    "logging": {
        "level": ("info", _choice("debug", "info", "warning", "error"), "log level"),
        "access_log": (True, _bool, "one line per request"),
    },
    "metrics": {
        "enabled": (True, _bool, "serve GET /metrics and count calls; false = no counting "
                                 "at all (restart)"),
        "allow_networks": ([], _strings(lambda n: ipaddress.ip_network(n, strict=False),
                                        "CIDR networks"),
                           "who may read /metrics, within access.allow_networks; "
                           "empty = whoever may read /healthz"),
    },
}


class Config(SimpleNamespace):
    """Sections as attributes (``config.limits.max_depth``) plus where each value came from."""

    def __init__(self, values: dict[str, dict[str, Any]], origins: dict[str, str],
                 path: str | None) -> None:
        super().__init__(**{name: SimpleNamespace(**keys) for name, keys in values.items()})
        self.origins = origins
        self.path = path

    @classmethod
    def default(cls) -> "Config":
        return load_config(path=None, use_default_path=False, environ={})


def load_config(path: str | None = None, overrides: dict[str, Any] | None = None,
                use_default_path: bool = True,
                environ: dict[str, str] | None = None) -> Config:
    """Merge defaults, the file, ``RPC_GATEWAY_SECTION_KEY`` and CLI overrides; validate all."""
    environ = os.environ if environ is None else environ
    raw: dict[str, dict[str, Any]] = {s: {k: v[0] for k, v in keys.items()}
                                      for s, keys in SCHEMA.items()}
    origins = {f"{s}.{k}": "default" for s, keys in SCHEMA.items() for k in keys}
    problems: list[str] = []
    if path is None and use_default_path and os.path.exists(DEFAULT_PATH):
        path = DEFAULT_PATH
    if path is not None:
        _merge_file(path, raw, origins, problems)
    for name, text in environ.items():
        if name.startswith(ENV_PREFIX):
            _merge_env(name, text, raw, origins, problems)
    for dotted, value in (overrides or {}).items():
        section, key = dotted.split(".")
        raw[section][key] = value
        origins[dotted] = "command line"
    values: dict[str, dict[str, Any]] = {}
    for section, keys in SCHEMA.items():
        values[section] = {}
        for key, (_, check, _) in keys.items():
            try:
                values[section][key] = check(raw[section][key])
            except ValueError as error:
                problems.append(f"{origins[f'{section}.{key}']}: [{section}] {key}: {error}")
    if not problems:
        problems.extend(_check_tls(values["tls"], origins))
    if problems:
        raise ConfigError(problems)
    return Config(values, origins, path)


def _check_tls(tls: dict[str, Any], origins: dict[str, str]) -> list[str]:
    """Load the certificate now, so --check-config and reloads catch a bad one."""
    if not tls["certfile"]:
        return [f"{origins['tls.keyfile']}: [tls] keyfile: set without certfile"] \
            if tls["keyfile"] else []
    from gateway.tls import server_context
    try:
        server_context(tls["certfile"], tls["keyfile"])
    except (OSError, ValueError) as error:
        return [f"{origins['tls.certfile']}: [tls] certfile: cannot load the certificate "
                f"and key: {getattr(error, 'strerror', None) or error}"]
    return []


def reread_or_keep(reread: Callable[[], "Config"], log: Any) -> "Config | None":
    """A reload's new config, or None (every problem logged) to keep the running one."""
    from gateway.metrics import count_reload
    try:
        config = reread()
        count_reload(ok=True)
        return config
    except ConfigError as error:
        for problem in error.problems:
            log.error("reload refused, keeping the running configuration: %s", problem)
    except Exception:  # a bug must not take the signal-handling thread down
        log.exception("reload failed, keeping the running configuration")
    count_reload(ok=False)
    return None


def _merge_file(path: str, raw: dict, origins: dict, problems: list[str]) -> None:
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8")
        document = tomllib.loads(text)
    except OSError as error:
        problems.append(f"{path}: cannot read: {error.strerror}")
        return
    except UnicodeDecodeError as error:
        problems.append(f"{path}: not UTF-8 text (byte {error.start}); TOML files are UTF-8")
        return
    except tomllib.TOMLDecodeError as error:
        problems.append(f"{path}:{_line_of(error)}: not valid TOML: {error}"
                        f"{_quote_line(text, _line_of(error))}")
        return
    for section, table in document.items():
        if section not in SCHEMA:
            problems.append(f"{path}: unknown section [{section}] "
                            f"(known: {', '.join(SCHEMA)})")
            continue
        if not isinstance(table, dict):
            problems.append(f"{path}: {section} must be a [table]")
            continue
        for key, value in table.items():
            if key not in SCHEMA[section]:
                problems.append(f"{path}: [{section}] unknown key {key!r} "
                                f"(known: {', '.join(SCHEMA[section])})")
                continue
            raw[section][key] = value
            origins[f"{section}.{key}"] = path


def _line_of(error: tomllib.TOMLDecodeError) -> int:
    match = re.search(r"line (\d+)", str(error))
    return int(match[1]) if match else 0


def _quote_line(text: str, number: int) -> str:
    """The offending line, so the message names the key even when TOML says only where."""
    lines = text.splitlines()
    if not 0 < number <= len(lines):
        return ""
    return f": {lines[number - 1].strip()[:120]!r}"


def _merge_env(name: str, text: str, raw: dict, origins: dict, problems: list[str]) -> None:
    rest = name[len(ENV_PREFIX):].lower()
    for section, keys in SCHEMA.items():
        if rest.startswith(section + "_") and rest[len(section) + 1:] in keys:
            key = rest[len(section) + 1:]
            try:
                value = tomllib.loads(f"v = {text}")["v"]
            except tomllib.TOMLDecodeError:
                value = text  # a bare word is a string
            raw[section][key] = value
            origins[f"{section}.{key}"] = f"environment {name}"
            return
    # Only RPC_GATEWAY_<SECTION>_* names are settings, so a typo there is an error; other
    # RPC_GATEWAY_* names belong to someone else (a wrapper's, a test service's).
    if any(rest.startswith(section + "_") for section in SCHEMA):
        problems.append(f"environment {name}: no such setting")
