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
    assert (
        s.ports.gt06,
        s.ports.teltonika,
        s.ports.h02,
        s.ports.tk103,
        s.ports.watch,
        s.ports.osmand,
    ) == (5023, 5027, 5013, 5001, 5093, 5055)


#: secrets that are none of empty, default or placeholder
REAL_SECRETS = {
    "TRACKGW_HTTP_ADMIN_TOKEN": "k2V9-pq81-zzT4",
    "TRACKGW_HTTP_STRIPE_WEBHOOK_SECRET": "whsec_9f8e7d6c5b4a",
    "TRACKGW_MQTT_PASSWORD": "Hq7-mW2-r8c",
    "TRACKGW_MQTT_ADMIN_PASSWORD": "Zu4-kX9-p2m",
}
EXAMPLE = str(ROOT / "deploy" / "trackgw.example.toml")


def test_the_example_file_in_deploy_is_valid_once_its_secrets_are_set() -> None:
    s = config.load(EXAMPLE, env=REAL_SECRETS)
    assert s.ports.host == "0.0.0.0"
    with pytest.raises(config.ConfigError) as err:
        config.load(EXAMPLE, env={})
    assert [p.split()[0] for p in err.value.problems] == [
        "http.admin_token",
        "http.stripe_webhook_secret",
        "mqtt.password",
        "mqtt.admin_password",
    ]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.0.2.10", "gateway.example.net"])
@pytest.mark.parametrize("where", ["TRACKGW_HTTP_HOST", "TRACKGW_PORTS_HOST"])
@pytest.mark.parametrize("secret", sorted(REAL_SECRETS))
@pytest.mark.parametrize("weak", ["", "default", "change-me", "CHANGEME", "whsec_...", "<token>"])
def test_each_weak_secret_beyond_loopback_refuses_to_start_naming_it(
    host: str, where: str, secret: str, weak: str
) -> None:
    dotted = secret.removeprefix("TRACKGW_").lower().replace("_", ".", 1)
    defaults = {name: default for name, default in config.SECRETS}
    value = defaults[dotted] if weak == "default" else weak
    with pytest.raises(config.ConfigError) as err:
        config.load(env={**REAL_SECRETS, where: host, secret: value})
    [problem] = err.value.problems
    assert problem.startswith(f"{dotted} ")
    assert secret in problem  # says where to set it


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "::1", "localhost"])
def test_loopback_allows_the_development_defaults(host: str) -> None:
    s = config.load(env={"TRACKGW_HTTP_HOST": host, "TRACKGW_PORTS_HOST": host})
    assert s.http.admin_token == config.HttpSettings().admin_token


def test_all_weak_secrets_are_listed_at_once() -> None:
    with pytest.raises(config.ConfigError) as err:
        config.load(env={"TRACKGW_HTTP_HOST": "0.0.0.0", "TRACKGW_MQTT_PASSWORD": ""})
    assert len(err.value.problems) == 4
    assert "mqtt.password is empty" in err.value.problems[2]


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    file = tmp_path / "t.toml"
    file.write_text("[http]\nport = 9000\n[filters]\ndrop_invalid = false\n")
    s = config.load(str(file), env={"TRACKGW_HTTP_PORT": "9100", "TRACKGW_PORTS_GT06": "0"})
    assert s.http.port == 9100
    assert s.filters.drop_invalid is False
    assert s.ports.gt06 == 0  # disabled


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    file = tmp_path / "t.toml"
    file.write_text("[http]\nprot = 1\n[pipeline]\nbatch_max = 0\n")
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


def test_api_and_smtp_settings_are_checked() -> None:
    s = config.load(env={"TRACKGW_SMTP_PORT": "2525", "TRACKGW_API_TOKEN_BURST": "7"})
    assert (s.smtp.port, s.api.token_burst) == (2525, 7)
    with pytest.raises(config.ConfigError):
        config.load(env={"TRACKGW_API_TOKEN_TTL_DAYS": "0"})
    with pytest.raises(config.ConfigError):
        config.load(env={"TRACKGW_SMTP_PORT": "70000"})


def test_the_compose_file_requires_every_secret() -> None:
    compose = (ROOT / "deploy" / "compose.yaml").read_text()
    for dotted, _default in config.SECRETS:
        env_key = "TRACKGW_" + dotted.replace(".", "_").upper()
        assert f"{env_key}: ${{{env_key}:?" in compose, env_key
    # the database password too, in both places it is used, and no literal one left
    assert compose.count("${TRACKGW_DB_PASSWORD:?") == 2
    assert "POSTGRES_PASSWORD: trackgw" not in compose
