"""Settings: defaults < TOML file < GATEWAY_* environment variables, and clear errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.settings import (
    Settings,
    SettingsError,
    describe_validation_error,
    load_settings,
)

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config" / "gateway.toml"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No GATEWAY_* variable and no config/gateway.toml from the caller's directory."""
    for name in list(os.environ):
        if name.startswith("GATEWAY_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def write_config(tmp_path: Path, text: str, name: str = "gateway.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(config: Path | None = None, **overrides: object) -> str:
    with pytest.raises(SettingsError) as info:
        load_settings(config, **overrides)
    return str(info.value)


# --- defaults ------------------------------------------------------------------------------


def test_defaults_without_a_file(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.data_dir == Path("data")
    assert settings.database_url is None
    assert settings.redis_url is None
    assert settings.redis_prefix == "dr:"
    assert settings.http_host == "127.0.0.1"
    assert settings.http_port == 8080
    assert settings.admin_token is None
    assert settings.auth_reads is False
    assert settings.max_body_bytes == 1_048_576
    assert settings.default_duration_minutes == 59
    assert settings.answer_policy == "all"
    assert settings.partial_min_share == 0.8
    assert settings.power_max_age_seconds == 15.0
    assert settings.invitation_cache_ttl_seconds == 60
    assert settings.flexibility_snapshot_interval_seconds == 900
    assert settings.worker_interval_seconds == 1.0
    assert settings.log_level == "INFO"
    assert settings.dr_events_channel == "dr:dr_events"


def test_resolved_database_url_defaults_to_sqlite_in_data_dir(tmp_path: Path) -> None:
    settings = load_settings()
    expected = (tmp_path / "data" / "gateway.db").resolve()
    assert settings.resolved_database_url == f"sqlite+aiosqlite:///{expected}"


def test_resolved_database_url_follows_data_dir(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "elsewhere")
    expected = (tmp_path / "elsewhere" / "gateway.db").resolve()
    assert settings.resolved_database_url == f"sqlite+aiosqlite:///{expected}"


def test_resolved_database_url_uses_the_configured_url() -> None:
    settings = load_settings(database_url="postgresql://u:p@db:5432/gw")
    assert settings.resolved_database_url == "postgresql+asyncpg://u:p@db:5432/gw"


def test_default_config_file_in_working_directory_is_picked_up(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    write_config(tmp_path / "config", "http_port = 9100\n")
    assert load_settings().http_port == 9100


# --- file and environment ------------------------------------------------------------------


def test_file_values_apply(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        'http_port = 9000\nredis_prefix = "site1:"\nanswer_policy = "partial"\n'
        "partial_min_share = 0.5\nauth_reads = true\n",
    )
    settings = load_settings(config)
    assert settings.http_port == 9000
    assert settings.redis_prefix == "site1:"
    assert settings.dr_events_channel == "site1:dr_events"
    assert settings.answer_policy == "partial"
    assert settings.partial_min_share == 0.5
    assert settings.auth_reads is True
    assert settings.http_host == "127.0.0.1"  # untouched keys keep their defaults


def test_env_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_config(tmp_path, "http_port = 9000\n")
    monkeypatch.setenv("GATEWAY_HTTP_PORT", "9500")
    assert load_settings(config).http_port == 9500


def test_explicit_overrides_beat_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_HTTP_PORT", "9500")
    assert load_settings(http_port=9600).http_port == 9600


def test_env_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", "sqlite:////var/lib/gw/gateway.db")
    settings = load_settings()
    assert settings.database_url == "sqlite+aiosqlite:////var/lib/gw/gateway.db"
    assert settings.resolved_database_url == "sqlite+aiosqlite:////var/lib/gw/gateway.db"


def test_env_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_REDIS_URL", "redis://cache:6379/2")
    assert load_settings().redis_url == "redis://cache:6379/2"


def test_env_admin_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_ADMIN_TOKEN", "a-long-enough-token-1234")
    token = load_settings().admin_token
    assert token is not None
    assert token.get_secret_value() == "a-long-enough-token-1234"
    assert "a-long-enough-token-1234" not in repr(load_settings())


def test_env_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path / "state"))
    settings = load_settings()
    assert settings.data_dir == tmp_path / "state"
    expected = (tmp_path / "state" / "gateway.db").resolve()
    assert settings.resolved_database_url == f"sqlite+aiosqlite:///{expected}"


def test_empty_strings_mean_unset(tmp_path: Path) -> None:
    config = write_config(tmp_path, 'database_url = ""\nredis_url = ""\nadmin_token = ""\n')
    settings = load_settings(config)
    assert settings.database_url is None
    assert settings.redis_url is None
    assert settings.admin_token is None


# --- database_url normalisation ------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("postgresql://u:p@h:5432/gw", "postgresql+asyncpg://u:p@h:5432/gw"),
        ("postgres://u:p@h/gw", "postgresql+asyncpg://u:p@h/gw"),
        ("postgresql+asyncpg://u@h/gw", "postgresql+asyncpg://u@h/gw"),
        ("  postgresql://h/gw  ", "postgresql+asyncpg://h/gw"),
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_database_url_is_normalised(given: str, stored: str) -> None:
    assert load_settings(database_url=given).database_url == stored


# --- invalid values ------------------------------------------------------------------------


def test_port_out_of_range_in_file_names_the_setting(tmp_path: Path) -> None:
    message = load_error(write_config(tmp_path, "http_port = 70000\n"))
    assert "http_port" in message
    assert "GATEWAY_HTTP_PORT" in message
    assert "65535" in message


def test_non_numeric_port_in_env_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_HTTP_PORT", "abc")
    message = load_error()
    assert message.startswith("invalid setting http_port (env GATEWAY_HTTP_PORT):")
    assert "integer" in message


def test_unknown_answer_policy_names_the_setting() -> None:
    message = load_error(answer_policy="some")
    assert "answer_policy" in message
    assert "'all'" in message
    assert "'partial'" in message


def test_short_admin_token_names_the_setting() -> None:
    message = load_error(admin_token="short")
    assert "admin_token" in message
    assert "at least 16 characters" in message
    assert "short" not in message  # the secret itself is never echoed


def test_unsupported_database_url_names_the_setting() -> None:
    message = load_error(database_url="mysql://x")
    assert "database_url" in message
    assert "must be a postgresql:// or sqlite:// URL" in message


def test_bad_redis_url_names_the_setting() -> None:
    message = load_error(redis_url="http://cache")
    assert "redis_url" in message
    assert "redis://" in message


def test_each_bad_setting_is_named(tmp_path: Path) -> None:
    config = write_config(tmp_path, 'http_port = 0\nlog_level = "LOUD"\n')
    message = load_error(config)
    assert "invalid setting http_port" in message
    assert "invalid setting log_level" in message
    assert message.count(";") == 1


def test_unknown_key_in_file_names_the_key(tmp_path: Path) -> None:
    message = load_error(write_config(tmp_path, "http_prot = 8081\n"))
    assert message == "unknown setting 'http_prot'"


def test_invalid_toml_is_an_error(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http_port = = 8080\n")
    message = load_error(config)
    assert message.startswith(f"config file {config} is not valid TOML")


def test_non_utf8_file_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "latin1.toml"
    config.write_bytes('log_level = "INFÖ"\n'.encode("latin-1"))
    assert "is not valid TOML" in load_error(config)


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    assert load_error(missing) == f"config file {missing} does not exist"


def test_describe_validation_error_lists_each_problem() -> None:
    with pytest.raises(ValidationError) as info:
        Settings(http_port=0, partial_min_share=2.0, bogus=1)  # type: ignore[call-arg]
    message = describe_validation_error(info.value)
    lines = message.split("; ")
    assert len(lines) == 3
    assert lines[0].startswith("invalid setting http_port (env GATEWAY_HTTP_PORT): ")
    assert lines[1].startswith(
        "invalid setting partial_min_share (env GATEWAY_PARTIAL_MIN_SHARE): "
    )
    assert lines[2] == "unknown setting 'bogus'"


# --- the repository's own config file ------------------------------------------------------


def test_repository_config_loads_and_matches_defaults() -> None:
    assert REPO_CONFIG.is_file()
    settings = load_settings(REPO_CONFIG)
    assert settings.http_port == 8080
    assert settings.redis_prefix == "dr:"
    assert settings.answer_policy == "all"
    assert settings.model_dump() == load_settings().model_dump()


# --- VTN and upstream ----------------------------------------------------------------------


def test_no_upstream_section_means_no_upstream() -> None:
    assert load_settings().upstream is None


def test_upstream_section_from_the_file_and_nested_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(
        tmp_path,
        '[upstream]\nvtn_url = "http://127.0.0.1:9000/OpenADR2/Simple/2.0b"\n'
        'ven_name = "gw"\ndevices = ["d1", "d2"]\n',
    )
    monkeypatch.setenv("GATEWAY_UPSTREAM__DEFAULT_ANSWER", "optIn")
    upstream = load_settings(config).upstream
    assert upstream is not None
    assert upstream.vtn_url == "http://127.0.0.1:9000/OpenADR2/Simple/2.0b"
    assert upstream.devices == ["d1", "d2"]
    assert upstream.default_answer == "optIn"
    assert upstream.response_deadline_seconds == 60.0


@pytest.mark.parametrize(
    ("section", "named"),
    [
        ('vtn_url = "ftp://x"\nven_name = "gw"', "upstream.vtn_url"),
        ('vtn_url = "http://x"', "upstream.ven_name"),
        ('vtn_url = "http://x"\nven_name = "gw"\nbogus = 1', "upstream.bogus"),
        ('vtn_url = "http://x"\nven_name = "gw"\ndefault_answer = "maybe"',
         "upstream.default_answer"),
        ('vtn_url = "http://x"\nven_name = "gw"\ncert = "/nonexistent.crt"', "upstream"),
    ],
)  # fmt: skip
def test_a_bad_upstream_setting_is_named(tmp_path: Path, section: str, named: str) -> None:
    config = write_config(tmp_path, f"[upstream]\n{section}\n")
    assert named in load_error(config)


def test_vtn_tls_needs_all_three_files_and_a_port(tmp_path: Path) -> None:
    cert = tmp_path / "vtn.crt"
    cert.write_text("x")
    assert "go together" in load_error(vtn_tls_cert=cert)
    assert "vtn_port" in load_error(vtn_tls_cert=cert, vtn_tls_key=cert, vtn_tls_ca=cert)
    assert "is not a file" in load_error(vtn_signing_key=tmp_path / "missing.key")
