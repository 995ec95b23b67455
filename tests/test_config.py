"""Configuration: the shipped example equals the defaults, and precedence holds."""

import tomllib

import pytest

from gateway.config import SCHEMA, ConfigError, load_config
from tests.support.processes import ROOT

EXAMPLE = ROOT / "conf" / "gateway.toml"


def test_shipped_example_documents_every_key_with_its_default():
    document = tomllib.loads(EXAMPLE.read_text())
    assert set(document) == set(SCHEMA)
    for section, keys in SCHEMA.items():
        assert set(document[section]) == set(keys), section
        for key, (default, _, _) in keys.items():
            assert document[section][key] == default, f"{section}.{key}"


def test_shipped_example_loads_to_the_built_in_defaults():
    from_file = load_config(str(EXAMPLE), use_default_path=False, environ={})
    built_in = load_config(None, use_default_path=False, environ={})
    for section in SCHEMA:
        assert vars(getattr(from_file, section)) == vars(getattr(built_in, section))


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
