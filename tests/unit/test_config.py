"""Settings: TOML, then TRACKGW_* overrides, every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway import config

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_point_at_the_local_services() -> None:
    s = config.load(env={})
    assert s.database.url == "postgresql://trackgw@127.0.0.1:55432/trackgw"
    assert (s.mqtt.host, s.mqtt.port) == ("127.0.0.1", 51883)
    assert (s.ports.gt06, s.ports.teltonika, s.ports.h02, s.ports.tk103, s.ports.watch,
            s.ports.osmand) == (5023, 5027, 5013, 5001, 5093, 5055)


def test_the_example_file_in_deploy_is_valid() -> None:
    s = config.load(str(ROOT / "deploy" / "trackgw.example.toml"), env={})
    assert s.ports.host == "0.0.0.0"


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    file = tmp_path / "t.toml"
    file.write_text('[http]\nport = 9000\n[filters]\ndrop_invalid = false\n')
    s = config.load(str(file), env={"TRACKGW_HTTP_PORT": "9100", "TRACKGW_PORTS_GT06": "0"})
    assert s.http.port == 9100
    assert s.filters.drop_invalid is False
    assert s.ports.gt06 == 0  # disabled


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    file = tmp_path / "t.toml"
    file.write_text('[http]\nprot = 1\n[pipeline]\nbatch_max = 0\n')
    with pytest.raises(config.ConfigError) as err:
        config.load(str(file), env={"TRACKGW_MQTT_PORT": "many", "TRACKGW_PORTS_H02": "70000"})
    problems = err.value.problems
    assert "unknown setting 'http.prot'" in problems
    assert "TRACKGW_MQTT_PORT: expected an integer, got 'many'" in problems
    assert any(p.startswith("ports.h02: 70000") for p in problems)
    assert "pipeline.batch_max must be at least 1" in problems


def test_a_missing_or_broken_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match="not found"):
        config.load(str(tmp_path / "nope.toml"), env={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[http\n")
    with pytest.raises(config.ConfigError, match=r"bad\.toml"):
        config.load(str(bad), env={})


def test_the_dev_admin_token_is_refused_beyond_loopback() -> None:
    with pytest.raises(config.ConfigError) as caught:
        config.load(env={"TRACKGW_HTTP_HOST": "0.0.0.0"})
    assert any("http.admin_token" in p for p in caught.value.problems)
    s = config.load(env={"TRACKGW_HTTP_HOST": "0.0.0.0", "TRACKGW_HTTP_ADMIN_TOKEN": "s3cret"})
    assert s.http.admin_token == "s3cret"
    assert config.load(env={}).http.admin_token == config.DEV_ADMIN_TOKEN  # loopback: fine


def test_api_and_smtp_settings_are_checked() -> None:
    s = config.load(env={"TRACKGW_SMTP_PORT": "2525", "TRACKGW_API_TOKEN_BURST": "7"})
    assert (s.smtp.port, s.api.token_burst) == (2525, 7)
    with pytest.raises(config.ConfigError):
        config.load(env={"TRACKGW_API_TOKEN_TTL_DAYS": "0"})
    with pytest.raises(config.ConfigError):
        config.load(env={"TRACKGW_SMTP_PORT": "70000"})
