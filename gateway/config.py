"""Configuration: one immutable object, from defaults < TOML file < environment < CLI.

Every key has a default, a validator, a one-line description and whether a
reload applies it (``SCHEMA``);
``conf/gateway.toml`` documents the same keys and a test keeps the two equal.
Unknown keys, wrong types and bad values are all reported, each naming where
the value came from, before anything is bound.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from types import MappingProxyType
from typing import Any, Callable, NamedTuple

from gateway.validators import (addresses, boolean, choice, endpoints, integer, mode,
                                 parse_address, rate,
                                 seconds, services, strings, text, token_hash, users, workers)

__all__ = ["SCHEMA", "Config", "ConfigError", "Key", "RELOAD", "RESTART", "for_reload",
           "load_config", "parse_address", "reread_or_keep"]

DEFAULT_PATH = "/etc/rpc-gateway/gateway.toml"
ENV_PREFIX = "RPC_GATEWAY_"


class ConfigError(Exception):
    """One or more configuration problems, each as 'origin: what is wrong'."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Key(NamedTuple):
    """One setting: its default, its validator, its one-line description, and ``reload``:
    RELOAD when SIGHUP applies it to the running gateway, RESTART when only a restart does
    (a reload that changes it keeps the running value and logs a warning naming it)."""

    default: Any
    check: Callable[[Any], Any]
    help: str
    reload: str


RELOAD, RESTART = "reload", "restart"
MiB = 1 << 20
_NETWORKS = strings(lambda n: ipaddress.ip_network(n, strict=False), "CIDR networks")
SCHEMA: dict[str, dict[str, Key]] = {
    "server": {
        "listen": Key(["127.0.0.1:8080"], addresses,
                      'addresses: "HOST:PORT", "[IPV6]:PORT" or "unix:/path"', RESTART),
        "unix_socket_mode": Key("0660", mode, "permissions of Unix socket listeners", RESTART),
        "workers": Key(1, workers, 'worker processes; "auto" = one per core', RESTART),
        "xmlrpc_threads": Key(16, integer(1, 1024), "threads of the XML-RPC server", RESTART),
        "jsonrpc_threads": Key(16, integer(1, 1024), "threads of the JSON-RPC server's pool",
                               RESTART),
        "queue_size": Key(64, integer(0, 100000),
                          "complete requests that may wait for a thread; past it HTTP 503",
                          RELOAD),
        "max_connections": Key(10000, integer(1, 1000000), "open connections at once", RELOAD),
        "drain_timeout": Key(30.0, seconds, "on stop, how long calls in flight may take",
                             RELOAD),
    },
    "service": {
        "services": Key(["handlers.calculator:Calculator"], services,
                        'what is served: "module:attribute", or "prefix=module:attribute" '
                        'for a namespace, or an upstream "[prefix=]jsonrpc+http://host:port/path" '
                        "(README: Bridging)", RESTART),
    },
    "limits": {
        "max_body_bytes": Key(4 * MiB, integer(1024, 1 << 34), "request body as sent", RELOAD),
        "max_decompressed_bytes": Key(16 * MiB, integer(1024, 1 << 34),
                                      "request body after gzip/deflate", RELOAD),
        "max_header_bytes": Key(16384, integer(256, 1 << 20), "request line and headers", RELOAD),
        "max_headers": Key(100, integer(1, 10000), "header lines per request", RELOAD),
        "max_request_line": Key(8192, integer(64, 1 << 20), "request line length", RELOAD),
        "max_depth": Key(64, integer(1, 500), "nesting of arrays/structs/objects in a request",
                         RELOAD),
        "max_calls": Key(100, integer(1, 100000), "calls in one batch or system.multicall",
                         RELOAD),
        "max_int_bits": Key(14000, integer(64, 1 << 20),
                            "bits of an integer the calculator may compute", RELOAD),
        "header_timeout": Key(10.0, seconds, "seconds for a request's headers to arrive",
                              RELOAD),
        "body_timeout": Key(30.0, seconds, "seconds for a request's body to arrive", RELOAD),
        "idle_timeout": Key(60.0, seconds, "seconds an idle keep-alive connection is kept",
                            RELOAD),
        "write_timeout": Key(30.0, seconds, "seconds a response may take to be read", RELOAD),
    },
    "http": {
        "gzip_min_bytes": Key(8192, integer(0, 1 << 30),
                              "gzip responses from this size when the client accepts gzip",
                              RELOAD),
        "get_calls": Key(True, boolean, "answer calls sent as GET (/?a=1&b=2, "
                                        "/jsonrpc?method=...); false = POST only", RELOAD),
    },
    "tls": {
        "certfile": Key("", text, "PEM certificate (chain); empty = plain HTTP", RELOAD),
        "keyfile": Key("", text, "PEM private key; empty = inside certfile", RELOAD),
    },
    "auth": {
        "users": Key({}, users,
                     'Basic auth users: name = "hash from rpc-gateway hash-password"', RELOAD),
        "tokens": Key([], strings(token_hash, "token hashes"),
                      "bearer tokens, hashed the same way", RELOAD),
        "realm": Key("rpc-gateway", text, "realm named in WWW-Authenticate", RELOAD),
    },
    "access": {
        "allow_networks": Key([], _NETWORKS, "clients allowed to connect; empty = everyone",
                              RELOAD),
        "allowed_origins": Key([], strings(lambda o: bool(o), "origins"),
                               'browser origins allowed (e.g. "https://app.example"); '
                               "requests from other sites get 403", RELOAD),
        "allowed_hosts": Key([], strings(lambda h: bool(h.strip()), "host names"),
                             'names browsers may reach the gateway by, besides IP addresses '
                             'and localhost (e.g. "rpc.example"); a browser call to another '
                             "Host name gets 403 (DNS rebinding)", RELOAD),
        "rate": Key(0.0, rate, "calls per second per client address; 0 = unlimited", RELOAD),
        "burst": Key(20, integer(1, 1000000), "calls a client may make at once above the rate",
                     RELOAD),
    },
    "logging": {
        "level": Key("info", choice("debug", "info", "warning", "error"), "log level", RELOAD),
        "access_log": Key(True, boolean, "one line per request", RELOAD),
    },
    "zerorpc": {
        "listen": Key([], endpoints, 'zerorpc endpoints, "tcp://HOST:PORT" or "ipc:///path" '
                      "(port 0 or * = a free port); empty = off", RESTART),
        "threads": Key(16, integer(1, 1024), "threads that run zerorpc calls", RESTART),
        "queue_size": Key(64, integer(0, 100000), "zerorpc calls that may wait for a thread; "
                          "past it ERR Busy", RELOAD),
        "heartbeat": Key(5.0, seconds, "seconds between heartbeats on an open call; a peer "
                         "silent for two is gone and its call freed", RELOAD),
        "max_message_bytes": Key(4 * MiB, integer(1024, 1 << 30),
                                 "largest zerorpc message; a bigger one closes its connection",
                                 RESTART),
        "max_channels_per_peer": Key(100, integer(1, 100000), "calls one zerorpc connection may "
                                     "have open; past it ERR TooManyChannels", RELOAD),
        "max_list_items": Key(100000, integer(1, 1 << 30), "a streaming method called over "
                              "XML-RPC or JSON-RPC answers at most this many items, past it "
                              "-32602", RELOAD),
    },
    "metrics": {
        "enabled": Key(True, boolean, "serve GET /metrics and count calls; false = no "
                                      "counting at all", RESTART),
        "allow_networks": Key([], _NETWORKS, "who may read /metrics, within "
                              "access.allow_networks; empty = whoever may read /healthz",
                              RELOAD),
    },
}


class Section:
    """One ``[section]`` as read-only attributes (``config.limits.max_depth``)."""

    __slots__ = ("_name", "_values")

    def __init__(self, name: str, values: dict[str, Any]) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_values", MappingProxyType(dict(values)))

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):  # not set yet (copy, pickle): no recursion through _values
            raise AttributeError(key)
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(f"[{self._name}] has no key {key!r}") from None

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(f"the configuration is immutable: [{self._name}] {key} "
                             "changes by reloading, not by assignment")

    __delattr__ = __setattr__

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)

    def __repr__(self) -> str:
        return f"Section({self._name!r}, {dict(self._values)!r})"


class Config:
    """Every section as an attribute, where each value came from, and the file's path.

    Immutable: a reload builds a new Config and the running gateway swaps it whole.
    """

    __slots__ = ("_sections", "origins", "path")

    def __init__(self, values: dict[str, dict[str, Any]], origins: dict[str, str],
                 path: str | None) -> None:
        sections = {name: Section(name, keys) for name, keys in values.items()}
        object.__setattr__(self, "_sections", sections)
        object.__setattr__(self, "origins", MappingProxyType(dict(origins)))
        object.__setattr__(self, "path", path)

    def __getattr__(self, name: str) -> Section:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._sections[name]
        except KeyError:
            raise AttributeError(f"no configuration section [{name}]") from None

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError(f"the configuration is immutable (tried to set {key!r})")

    __delattr__ = __setattr__

    def value(self, dotted: str) -> Any:
        section, key = dotted.split(".")
        return getattr(self._sections[section], key)


def for_reload(running: Config, new: Config) -> tuple[Config, list[str]]:
    """What a reload puts in effect: ``new``, except RESTART keys keep their running values.

    Returns that config and one warning per RESTART key that changed, so the running
    Config always says what is really in effect and every change is either applied
    or named in the log.
    """
    values = {section: getattr(new, section).as_dict() for section in SCHEMA}
    origins = dict(new.origins)
    warnings = []
    for section, keys in SCHEMA.items():
        for key, spec in keys.items():
            if spec.reload != RESTART:
                continue
            old = getattr(getattr(running, section), key)
            if values[section][key] != old:
                warnings.append(f"reload: {section}.{key} changed; it takes effect on restart "
                                "(the running value is kept)")
                values[section][key] = old
                origins[f"{section}.{key}"] = running.origins[f"{section}.{key}"]
    return Config(values, origins, new.path), warnings


def load_config(path: str | None = None, overrides: dict[str, Any] | None = None,
                use_default_path: bool = True,
                environ: dict[str, str] | None = None) -> Config:
    """Merge defaults, the file, ``RPC_GATEWAY_SECTION_KEY`` and CLI overrides; validate all."""
    environ = os.environ if environ is None else environ
    raw: dict[str, dict[str, Any]] = {s: {k: v.default for k, v in keys.items()}
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
        for key, spec in keys.items():
            try:
                values[section][key] = spec.check(raw[section][key])
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
