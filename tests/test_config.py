"""Configuration: the shipped example equals the defaults, precedence holds, the object is
frozen, and every key either takes effect on reload or the reload names it in a warning."""

import logging
import tomllib

import pytest

from gateway.auth import hash_secret
from gateway.config import RELOAD, RESTART, SCHEMA, ConfigError, load_config
from gateway.server import GatewayServer
from gateway.supervisor import Supervisor
from tests.support.certs import make_certificate
from tests.support.processes import ROOT

EXAMPLE = ROOT / "conf" / "gateway.toml"


def test_shipped_example_documents_every_key_with_its_default():
    document = tomllib.loads(EXAMPLE.read_text())
    assert set(document) == set(SCHEMA)
    for section, keys in SCHEMA.items():
        assert set(document[section]) == set(keys), section
        for key, spec in keys.items():
            assert document[section][key] == spec.default, f"{section}.{key}"


def test_shipped_example_loads_to_the_built_in_defaults():
    from_file = load_config(str(EXAMPLE), use_default_path=False, environ={})
    built_in = load_config(None, use_default_path=False, environ={})
    for section in SCHEMA:
        assert getattr(from_file, section).as_dict() == getattr(built_in, section).as_dict()


def test_precedence_file_then_environment_then_command_line(tmp_path):
    path = tmp_path / "gateway.toml"
    path.write_text("[limits]\nmax_depth = 10\nmax_calls = 7\n[server]\nqueue_size = 3\n")
    config = load_config(str(path), overrides={"limits.max_calls": 9},
                         environ={"RPC_GATEWAY_LIMITS_MAX_DEPTH": "11"})
    assert (config.limits.max_depth, config.limits.max_calls, config.server.queue_size) == (
        11, 9, 3)
    assert config.origins["limits.max_depth"] == "environment RPC_GATEWAY_LIMITS_MAX_DEPTH"
    assert config.origins["server.queue_size"] == str(path)


def test_every_problem_is_reported_with_its_origin(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[server]\nworkers = "many"\nlisten = ["nowhere"]\n[limits]\nmax_dept = 3\n'
                    "[nope]\nx = 1\n")
    with pytest.raises(ConfigError) as error:
        load_config(str(path), environ={})
    problems = "\n".join(error.value.problems)
    assert len(error.value.problems) == 4
    for needle in ("workers", "listen", "max_dept", "[nope]"):
        assert needle in problems
    assert all(p.startswith(str(path)) for p in error.value.problems)


def test_config_is_frozen():
    config = load_config(None, use_default_path=False, environ={})
    with pytest.raises(AttributeError, match="immutable"):
        config.limits.max_depth = 3
    with pytest.raises(AttributeError, match="immutable"):
        config.limits = None
    with pytest.raises(TypeError):
        config.auth.users["mallory"] = "x"
    with pytest.raises(TypeError):
        config.origins["limits.max_depth"] = "forged"
    assert config.limits.max_depth == SCHEMA["limits"]["max_depth"].default


def test_every_key_says_whether_a_reload_applies_it():
    for section, keys in SCHEMA.items():
        for key, spec in keys.items():
            assert spec.reload in (RELOAD, RESTART), f"{section}.{key}"
            assert spec.help, f"{section}.{key}"


# For every RELOAD key: a changed value, and where the running gateway enforces it.
# A key added to SCHEMA without a line here fails the test below.
def _calculator(server):
    return server.table.services[0][1]


def _reload_probes(tmp_path):
    cert, key = make_certificate(tmp_path)
    combined = tmp_path / "combined.pem"  # certfile alone: the key inside it
    combined.write_bytes(cert.read_bytes() + key.read_bytes())
    return {
        "server.queue_size": (5, lambda s: (s.router.xml.capacity,
                                            s.router.json.capacity), (21, 21)),
        "server.max_connections": (77, lambda s: s.loop.limits.max_connections, 77),
        "server.drain_timeout": (3.0, lambda s: s.config.server.drain_timeout, 3.0),
        "limits.max_body_bytes": (5000, lambda s: s.loop.limits.max_body, 5000),
        "limits.max_decompressed_bytes": (6000, lambda s: s.router.settings
                                          .max_decompressed_bytes, 6000),
        "limits.max_header_bytes": (1000, lambda s: s.loop.limits.max_header_bytes, 1000),
        "limits.max_headers": (7, lambda s: s.loop.limits.max_headers, 7),
        "limits.max_request_line": (300, lambda s: s.loop.limits.max_line, 300),
        "limits.max_depth": (5, lambda s: (s.xml_server.max_depth, s.json_server.max_depth),
                             (5, 5)),
        "limits.max_calls": (3, lambda s: (s.table.max_calls, s.json_server.max_calls), (3, 3)),
        "limits.max_int_bits": (100, lambda s: _calculator(s).max_int_bits, 100),
        "limits.header_timeout": (1.5, lambda s: s.loop.limits.header_timeout, 1.5),
        "limits.body_timeout": (2.5, lambda s: s.loop.limits.body_timeout, 2.5),
        "limits.idle_timeout": (3.5, lambda s: s.loop.limits.idle_timeout, 3.5),
        "limits.write_timeout": (4.5, lambda s: s.loop.limits.write_timeout, 4.5),
        "http.gzip_min_bytes": (10, lambda s: s.router.settings.gzip_min_bytes, 10),
        "http.get_calls": (False, lambda s: s.router.policy.get_calls, False),
        "tls.certfile": (str(combined), lambda s: s.loop.tls is not None, True),
        "tls.keyfile": (str(key), lambda s: s.loop.tls is not None, True),
        "auth.users": ({"alice": hash_secret("pw")}, lambda s: list(s.router.auth.users),
                       ["alice"]),
        "auth.tokens": ([hash_secret("tok")], lambda s: len(s.router.auth.tokens), 1),
        "auth.realm": ("elsewhere", lambda s: s.router.auth.realm, "elsewhere"),
        "metrics.allow_networks": (["10.0.0.0/8"], lambda s: [
            str(n) for n in s.metrics.scrapers.allow_networks], ["10.0.0.0/8"]),
        "access.allow_networks": (["10.0.0.0/8"], lambda s: s.router.policy
                                  .client_allowed("127.0.0.1"), False),
        "access.allowed_origins": (["https://app.example"], lambda s: s.router.policy
                                   .allowed_origins, {"https://app.example"}),
        "access.allowed_hosts": (["rpc.example"], lambda s: s.router.policy.allowed_hosts,
                                 {"rpc.example"}),
        "access.rate": (2.0, lambda s: s.router.policy.rate, 2.0),
        "access.burst": (3, lambda s: s.router.policy.burst, 3),
        "logging.level": ("error", lambda s: logging.getLogger().level, logging.ERROR),
        "logging.access_log": (False, lambda s: logging.getLogger("gateway.access").disabled,
                               True),
        "zerorpc.queue_size": (5, lambda s: s.zerorpc.capacity - s.zerorpc.threads, 5),
        "zerorpc.heartbeat": (2.5, lambda s: s.zerorpc.channels.heartbeat, 2.5),
        "zerorpc.max_channels_per_peer": (7, lambda s: s.zerorpc.channels.max_per_peer, 7),
        "zerorpc.max_list_items": (9, lambda s: s.table.max_list_items, 9),
    }


RESTART_VALUES = {
    "server.listen": ["127.0.0.1:1"], "server.unix_socket_mode": "0600", "server.workers": 3,
    "server.xmlrpc_threads": 3, "server.jsonrpc_threads": 3,
    "service.services": ["tests.support.services:Slow"],
    "zerorpc.listen": ["tcp://127.0.0.1:1"], "zerorpc.threads": 3,
    "zerorpc.max_message_bytes": 1 << 20,
    "metrics.enabled": False,
}
BASE = {"server.listen": ["127.0.0.1:0"], "logging.access_log": True,
        "zerorpc.listen": ["tcp://127.0.0.1:0"]}


@pytest.fixture
def supervised():
    """An in-process gateway (not serving) and the Supervisor that reloads it."""
    config = load_config(overrides=BASE, use_default_path=False, environ={})
    server = GatewayServer(config)
    root, access = logging.getLogger(), logging.getLogger("gateway.access")
    saved = root.level, access.disabled
    try:
        yield server, Supervisor(server, lambda: config, notify=lambda message: None)
    finally:
        root.setLevel(saved[0])
        access.disabled = saved[1]
        server.server_close()
        for sock in server.listeners:
            sock.close()


def _reload_with(supervisor, dotted, value, extra=None):
    new = load_config(overrides={**BASE, **(extra or {}), dotted: value},
                      use_default_path=False, environ={})
    supervisor.reread = lambda: new
    supervisor._reload()


def test_every_schema_key_takes_effect_on_reload_or_is_named_in_a_warning(
        supervised, tmp_path, caplog):
    server, supervisor = supervised
    probes = _reload_probes(tmp_path)
    every = {f"{s}.{k}": spec.reload for s, keys in SCHEMA.items() for k, spec in keys.items()}
    assert {k for k, how in every.items() if how == RELOAD} == set(probes)
    assert {k for k, how in every.items() if how == RESTART} == set(RESTART_VALUES)
    for dotted, (value, observe, expected) in probes.items():
        extra = {"tls.certfile": str(tmp_path / "cert.pem")} if dotted == "tls.keyfile" else {}
        assert observe(server) != expected, f"{dotted}: the probe cannot fail"
        _reload_with(supervisor, dotted, value, extra)
        assert observe(server) == expected, f"{dotted} did not take effect on reload"
        assert server.config.value(dotted) == load_config(
            overrides={**BASE, **extra, dotted: value}, use_default_path=False,
            environ={}).value(dotted)
        _reload_with(supervisor, "logging.level", "info")  # back to the defaults
    for dotted, value in RESTART_VALUES.items():
        running = server.config.value(dotted)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="gateway"):
            _reload_with(supervisor, dotted, value)
        assert f"reload: {dotted} changed; it takes effect on restart" in caplog.text
        assert server.config.value(dotted) == running, f"{dotted}: the running value is kept"
