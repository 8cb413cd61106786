"""Gateway settings: defaults < TOML file < environment variables (``GATEWAY_*``).

Every setting is a flat key in ``config/gateway.toml`` and has an environment variable of the
same name in capitals with the ``GATEWAY_`` prefix (``database_url`` -> ``GATEWAY_DATABASE_URL``).
Unknown keys in the file are errors, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from gateway.domain.meter import MAX_SLOTS
from gateway.domain.programs import market_context_problem

ENV_PREFIX = "GATEWAY_"
DEFAULT_CONFIG_FILE = Path("config/gateway.toml")

AnswerPolicyName = Literal["all", "partial"]
# How the VTN takes schema deviations of field VENs (gateway.oadr20b.tolerance).
VtnSchemaMode = Literal["tolerant", "strict"]


class SettingsError(Exception):
    """The configuration cannot be used; the message names each bad setting."""


class UpstreamSettings(BaseModel):
    """``[upstream]``: the gateway as a VEN of a utility's VTN. Absent: none of it runs."""

    model_config = ConfigDict(extra="forbid")

    vtn_url: str = Field(pattern=r"^https?://[^\s]+$", description="…/OpenADR2/Simple/2.0b")
    ven_name: str = Field(min_length=1, max_length=128)
    ven_id: str | None = Field(default=None, min_length=1, max_length=128)
    cert: Path | None = None
    key: Path | None = None
    ca_file: Path | None = None
    vtn_fingerprint: str | None = None
    # Unset: as often as the VTN asks at registration.
    poll_interval_seconds: float | None = Field(default=None, ge=1.0, le=86_400)
    # The devices upstream events are for (empty: every device); an event that names
    # resourceIDs goes to those of them whose resource_id it names.
    devices: list[str] = Field(default_factory=list, max_length=10_000)
    # How long the downstream answers have to decide before the default answer goes up.
    response_deadline_seconds: float = Field(default=60.0, ge=0.0, le=86_400)
    default_answer: Literal["optIn", "optOut"] = "optOut"
    reconnect_min_seconds: float = Field(default=1.0, gt=0.0, le=3600)
    reconnect_max_seconds: float = Field(default=60.0, gt=0.0, le=86_400)

    @model_validator(mode="after")
    def _check_files(self) -> UpstreamSettings:
        if (self.cert is None) != (self.key is None):
            raise ValueError("upstream cert and key go together")
        for name in ("cert", "key", "ca_file"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"upstream {name}: {path} is not a file")
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    # Storage
    data_dir: Path = Path("data")
    database_url: str | None = None
    redis_url: str | None = None
    redis_prefix: str = Field(default="dr:", min_length=1, max_length=64)

    # HTTP
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=1, le=65535)
    admin_token: SecretStr | None = None
    auth_reads: bool = False
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)

    # Demand-response rules
    default_duration_minutes: int = Field(default=59, ge=1, le=1440)
    answer_policy: AnswerPolicyName = "all"
    partial_min_share: float = Field(default=0.8, gt=0.0, le=1.0)
    power_max_age_seconds: float = Field(default=15.0, gt=0.0)

    # Background work
    invitation_cache_ttl_seconds: int = Field(default=60, ge=0, le=86_400)
    flexibility_snapshot_interval_seconds: int = Field(default=900, ge=0)
    worker_interval_seconds: float = Field(default=1.0, gt=0.0, le=60.0)

    # Executor
    executor_enabled: bool = True
    cadence_seconds: float = Field(default=5.0, ge=0.05, le=3600)
    baseline_window_minutes: float = Field(default=15.0, ge=0, le=1440)
    stale_after_seconds: float | None = Field(default=None, gt=0)
    progress_every_samples: int = Field(default=10, ge=1, le=100_000)

    # Meter history and settlement (gateway.services.meter_history)
    meter_interval_minutes: int = Field(default=15, ge=1, le=60)
    meter_sample_seconds: int = Field(default=60, ge=0, le=3600)

    # Downstream OpenADR 2.0b VTN
    vtn_enabled: bool = True
    vtn_id: str = Field(default="oadr-gateway", min_length=1, max_length=128)
    vtn_port: int | None = Field(default=None, ge=1, le=65535)
    vtn_path_prefix: str = Field(default="/OpenADR2/Simple/2.0b", pattern=r"^/[A-Za-z0-9/._-]*$")
    # OpenADR 2.0a VENs (EiEvent, pull) are served here, beside 2.0b; null: not served.
    vtn_20a_path: str | None = Field(
        default="/OpenADR2/Simple/EiEvent", pattern=r"^/[A-Za-z0-9/._-]*[A-Za-z0-9._-]$"
    )
    open_enrollment: bool = False
    vtn_poll_interval_seconds: float = Field(default=10.0, ge=1.0, le=86_400)
    vtn_near_minutes: float = Field(default=60.0, ge=0, le=1440)
    # The default program's initial values (gateway.domain.programs): read when it is made, or
    # on the first start after the migration that made it (0006), then never again; change
    # them afterwards with PATCH /api/programs/default.
    vtn_market_context: str = Field(
        default="oadr://oadr-gateway/program",
        min_length=1,
        description="initial market context (an absolute URI) of the default program",
    )
    vtn_priority: int = Field(
        default=1, ge=0, le=2**31 - 1, description="initial priority of the default program"
    )
    vtn_test_events: bool = Field(
        default=False, description="initial test flag (testEvent) of the default program"
    )
    vtn_report_sampling_seconds: float = Field(default=10.0, ge=1.0, le=3600)
    vtn_tls_cert: Path | None = None
    vtn_tls_key: Path | None = None
    vtn_tls_ca: Path | None = None
    vtn_signing_cert: Path | None = None
    vtn_signing_key: Path | None = None
    vtn_require_signatures: bool | None = None
    vtn_client_cert_header: str | None = Field(default=None, min_length=1, max_length=128)
    vtn_replay_window_seconds: float = Field(default=300.0, ge=1.0, le=86_400)
    vtn_schema: VtnSchemaMode = "tolerant"
    # 2.0b push (oadr20b_push): retries double from min to max; a VEN failing this long is
    # marked unreachable (its messages are kept); a sender's lease on a VEN lapses after
    # lease seconds when its process dies.
    vtn_push_enabled: bool = True
    vtn_push_retry_min_seconds: float = Field(default=1.0, gt=0.0, le=3600)
    vtn_push_retry_max_seconds: float = Field(default=120.0, gt=0.0, le=86_400)
    vtn_push_timeout_seconds: float = Field(default=10.0, gt=0.0, le=300)
    vtn_push_unreachable_after_seconds: float = Field(default=600.0, gt=0.0, le=30 * 86_400)
    vtn_push_lease_seconds: float = Field(default=30.0, ge=1.0, le=3600)
    vtn_push_concurrency: int = Field(default=200, ge=1, le=10_000)
    vtn_push_sweep_seconds: float = Field(default=5.0, ge=0.1, le=3600)
    vtn_push_cancel_resend_seconds: float = Field(default=60.0, ge=0.1, le=86_400)

    # OpenADR 3.1.0 VTN (gateway.oadr3), on the admin port under oadr3_base_path
    oadr3_enabled: bool = True
    oadr3_base_path: str = Field(default="/openadr3/3.1.0", pattern=r"^/[A-Za-z0-9/._-]*[^/]$")
    oadr3_port: int | None = Field(default=None, ge=1, le=65535)  # unset: the admin port
    oadr3_token_secret: SecretStr | None = None  # unset: generated in {data_dir}/oadr3_token_key
    oadr3_token_lifetime_seconds: int = Field(default=3600, ge=60, le=86_400)
    oadr3_token_issuer: str = Field(default="oadr-gateway", min_length=1)
    oadr3_token_audience: str = Field(default="openadr3", min_length=1)
    # An external authorization server instead: its JWKS and the token URL /auth/server names.
    oadr3_jwks_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    oadr3_external_token_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")

    upstream: UpstreamSettings | None = None

    # OpenADR 3 notifications (gateway/oadr3/notify, docs/oadr3-notifications.md)
    oadr3_notify_enabled: bool = True
    oadr3_webhook_allow_http: bool = False  # callbacks must be HTTPS unless this is on (tests)
    oadr3_webhook_allow_private: bool = False  # loopback, private and reserved addresses
    oadr3_webhook_timeout_seconds: float = Field(default=10.0, gt=0.0, le=60.0)
    oadr3_webhook_retry_first_seconds: float = Field(default=1.0, gt=0.0, le=3600)
    oadr3_webhook_retry_max_seconds: float = Field(default=300.0, gt=0.0, le=86_400)
    oadr3_webhook_broken_after: int = Field(default=8, ge=1, le=1000)  # failures in a row
    oadr3_mqtt_url: str | None = Field(default=None, pattern=r"^mqtts?://[^\s/]+/?$")

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    # Unset: /metrics is open like /health; set: it needs this bearer token (not the admin one).
    metrics_token: SecretStr | None = None

    @model_validator(mode="after")
    def _check_oadr3_issuer(self) -> Settings:
        if (self.oadr3_jwks_url is None) != (self.oadr3_external_token_url is None):
            raise ValueError("oadr3_jwks_url and oadr3_external_token_url go together")
        if self.oadr3_port is not None and self.oadr3_port in (self.http_port, self.vtn_port):
            raise ValueError("oadr3_port: must differ from http_port and vtn_port")
        secret = self.oadr3_token_secret
        if secret is not None and len(secret.get_secret_value()) < 32:
            raise ValueError("oadr3_token_secret: must be at least 32 characters")
        return self

    @model_validator(mode="after")
    def _check_20a_path(self) -> Settings:
        if self.vtn_20a_path is not None and (
            self.vtn_20a_path.rpartition("/")[0] == self.vtn_path_prefix.rstrip("/")
        ):
            raise ValueError(
                f"vtn_20a_path {self.vtn_20a_path} would be a 2.0b service of vtn_path_prefix"
            )
        return self

    @model_validator(mode="after")
    def _check_push_retries(self) -> Settings:
        if self.vtn_push_retry_min_seconds > self.vtn_push_retry_max_seconds:
            raise ValueError("vtn_push_retry_min_seconds is above vtn_push_retry_max_seconds")
        return self

    @model_validator(mode="after")
    def _check_vtn_tls(self) -> Settings:
        tls = (self.vtn_tls_cert, self.vtn_tls_key, self.vtn_tls_ca)
        if any(tls) and not all(tls):
            raise ValueError("vtn_tls_cert, vtn_tls_key and vtn_tls_ca go together")
        if all(tls) and self.vtn_port is None:
            raise ValueError("vtn_port: mutual TLS needs the VTN on its own port")
        for name in ("vtn_tls_cert", "vtn_tls_key", "vtn_tls_ca", "vtn_signing_cert",
                     "vtn_signing_key"):  # fmt: skip
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"{name}: {path} is not a file")
        return self

    @model_validator(mode="after")
    def _check_meter(self) -> Settings:
        minutes, sample = self.meter_interval_minutes, self.meter_sample_seconds
        if 60 % minutes:
            raise ValueError("meter_interval_minutes: must divide an hour (1, 2, 3, 5, ... 60)")
        if sample and (minutes * 60 % sample or minutes * 60 // sample > MAX_SLOTS):
            raise ValueError(
                f"meter_sample_seconds: must divide meter_interval_minutes into at most "
                f"{MAX_SLOTS} samples (0: record nothing)"
            )
        return self

    @property
    def vtn_tls(self) -> bool:
        return self.vtn_tls_cert is not None

    @property
    def vtn_signing_files(self) -> tuple[Path, Path] | None:
        cert = self.vtn_signing_cert or self.vtn_tls_cert
        key = self.vtn_signing_key or self.vtn_tls_key
        return (cert, key) if cert is not None and key is not None else None

    @property
    def vtn_signatures_required(self) -> bool:
        """Signed messages are required over TLS (or behind a proxy) unless turned off."""
        if self.vtn_require_signatures is not None:
            return self.vtn_require_signatures
        return self.vtn_tls or self.vtn_client_cert_header is not None

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        url = value.strip()
        for plain in ("postgresql://", "postgres://"):
            if url.startswith(plain):
                return "postgresql+asyncpg://" + url[len(plain) :]
        if url.startswith("sqlite://"):
            url = "sqlite+aiosqlite://" + url[len("sqlite://") :]
        if not url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise ValueError("must be a postgresql:// or sqlite:// URL")
        return url

    @field_validator("vtn_market_context")
    @classmethod
    def _check_market_context(cls, value: str) -> str:
        problem = market_context_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value.strip()

    @field_validator("admin_token", "metrics_token")
    @classmethod
    def _check_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or value.get_secret_value() == "":
            return None
        if len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # First wins: explicit arguments, then GATEWAY_* variables, then the TOML file.
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @property
    def resolved_database_url(self) -> str:
        if self.database_url is not None:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'gateway.db').resolve()}"

    @property
    def executor_stale_after_seconds(self) -> float:
        """A reading older than this is missing for the executor (default 3 cadences)."""
        return self.stale_after_seconds or 3 * self.cadence_seconds

    @property
    def dr_events_channel(self) -> str:
        return f"{self.redis_prefix}dr_events"


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Load settings from ``config_file`` (default ``config/gateway.toml`` if it exists) and env.

    Raises ``SettingsError`` naming each bad setting.
    """
    path = config_file
    if path is None and DEFAULT_CONFIG_FILE.is_file():
        path = DEFAULT_CONFIG_FILE
    if path is not None:
        if not path.is_file():
            raise SettingsError(f"config file {path} does not exist")
        try:
            tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise SettingsError(f"config file {path} is not valid TOML: {err}") from err

    unknown = unknown_environment_variables(os.environ)
    if unknown:
        raise SettingsError("; ".join(f"unknown setting {name!r}" for name in unknown))

    class FileSettings(Settings):
        model_config = SettingsConfigDict(toml_file=path)

    try:
        return FileSettings(**overrides)
    except ValidationError as err:
        raise SettingsError(describe_validation_error(err)) from err


# Variables the test suite reads (GATEWAY_TEST_POSTGRES_URL, ...): not settings, not typos.
RESERVED_ENV_PREFIX = ENV_PREFIX + "TEST_"


def unknown_environment_variables(environ: Mapping[str, str]) -> list[str]:
    """``GATEWAY_*`` variables that name no setting: a typo is an error, as in the file."""
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    nested = ENV_PREFIX + "UPSTREAM__"
    upstream = {nested + name.upper() for name in UpstreamSettings.model_fields}
    return sorted(
        name
        for name in environ
        if name.upper().startswith(ENV_PREFIX)
        and not name.upper().startswith(RESERVED_ENV_PREFIX)
        and name.upper() not in known | upstream
    )


def describe_validation_error(err: ValidationError) -> str:
    lines = []
    for problem in err.errors():
        name = ".".join(str(part) for part in problem["loc"]) or "(settings)"
        env_name = ENV_PREFIX + name.upper().replace(".", "__")
        if problem["type"] == "extra_forbidden":
            lines.append(f"unknown setting {name!r}")
        else:
            lines.append(f"invalid setting {name} (env {env_name}): {problem['msg']}")
    return "; ".join(lines)
