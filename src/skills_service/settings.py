"""Typed settings, read once from ``SKILLS_*`` environment variables.

Every secret may also be given as ``SKILLS_<NAME>_FILE``: a path whose content is
the value (Docker and Kubernetes secrets). Nothing else in the package reads the
environment.
"""

from __future__ import annotations

import ipaddress
import math
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal

from limits import parse_many
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from zxcvbn import zxcvbn

PREFIX = "SKILLS_"
SECRET_FIELDS = (
    "secret_key",
    "database_url",
    "redis_url",
    "cache_redis_url",
    "oidc_client_secret",
    "metrics_token",
)
MIN_SECRET_KEY_BYTES = 32
MIN_SECRET_KEY_BITS = 128
"""Guessing work a secret key must need, as zxcvbn estimates it: ``secrets.token_urlsafe(32)``
and ``openssl rand -base64 32`` give about 140 bits; repeats, sequences, keyboard walks and
sentences of common words far less, whatever their length."""
PLACEHOLDER_SECRETS = frozenset(
    {
        "changeme",
        "change-me",
        "secret",
        "dev",
        "development",
        "you-will-never-guess",
        "replace-me",
        "please-change-this-secret-key-before-production-use",
    }
)


class ConfigError(Exception):
    """The configuration cannot be used; the message is one line for an operator."""


class Severity(StrEnum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Finding:
    severity: Severity
    setting: str
    message: str


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    env: Literal["development", "production"] = "development"
    debug: bool = False
    secret_key: SecretStr | None = None
    database_url: SecretStr | None = None
    allow_sqlite: bool = False
    redis_url: SecretStr | None = None
    cache_redis_url: SecretStr | None = None
    ratelimit_storage_url: str | None = None
    ratelimit_default: str = "300/minute"
    ratelimit_per_address: str = "1200/minute"
    ratelimit_sensitive: str = "20/minute"
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_audience: str | None = None
    oidc_role_claim: str = "groups"
    oidc_role_map: str = ""
    oidc_default_role: Literal["viewer", "member"] = "member"
    oidc_scopes: str = "openid email profile"
    session_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    session_absolute_hours: int = Field(default=12, ge=1, le=24 * 30)
    require_admin_mfa: bool = False
    login_rate_limit: str = "10/minute"
    login_account_rate_limit: str = "50/hour"
    mfa_account_rate_limit: str = "20/day"
    trusted_proxies: tuple[str, ...] = ()
    instance_path: Path = Field(default_factory=lambda: Path.cwd() / "instance")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    max_upload_bytes: int = Field(default=5 * 1_048_576, ge=1024, le=256 * 1_048_576)
    import_max_lines: int = Field(default=25_000, ge=10, le=1_000_000)
    token_max_days: int = Field(default=365, ge=1, le=3650)
    dashboard_cache_seconds: int = Field(default=300, ge=0, le=24 * 3600)
    metrics_token: SecretStr | None = Field(default=None, min_length=32)
    public_api_docs: bool = False
    unrecognised: tuple[str, ...] = Field(default=(), exclude=True)

    @field_validator(
        "ratelimit_default",
        "ratelimit_per_address",
        "ratelimit_sensitive",
        "login_rate_limit",
        "login_account_rate_limit",
        "mfa_account_rate_limit",
    )
    @classmethod
    def _valid_rate_limit(cls, value: str) -> str:
        try:
            parse_many(value)
        except ValueError:
            raise ValueError("use a rate such as '300/minute' or '10 per second'") from None
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("oidc_role_map")
    @classmethod
    def _valid_role_map(cls, value: str) -> str:
        roles = {"viewer", "member", "manager", "admin"}
        for pair in filter(None, (part.strip() for part in value.split(","))):
            claim_value, separator, role = pair.partition("=")
            if not separator or not claim_value.strip() or role.strip() not in roles:
                raise ValueError("use CLAIM_VALUE=ROLE pairs separated by commas")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for network in value:
            ipaddress.ip_network(network, strict=False)
        return value

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)

    def oidc_roles(self) -> dict[str, str]:
        """``SKILLS_OIDC_ROLE_MAP`` as {claim value: role}, e.g. ``skills-admins=admin,...``."""
        mapping: dict[str, str] = {}
        for pair in self.oidc_role_map.split(","):
            if "=" in pair:
                claim_value, role = (part.strip() for part in pair.split("=", 1))
                mapping[claim_value] = role
        return mapping

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def api_docs_public(self) -> bool:
        """Whether anyone may read the OpenAPI document and Swagger UI (in production,
        only with ``SKILLS_PUBLIC_API_DOCS=true``; otherwise signed-in callers only)."""
        return self.public_api_docs or not self.is_production

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.instance_path / 'skills.db'}"

    @property
    def uses_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default: the process environment).

        Raises ``ConfigError`` with a one-line message when a value is malformed.
        """
        values = _values_from_environ(os.environ if environ is None else environ)
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            name = PREFIX + "_".join(str(part) for part in first["loc"]).upper()
            raise ConfigError(f"{name}: {first['msg']}") from None

    def findings(self) -> list[Finding]:
        """Every observation about this configuration, secure or not."""
        found: list[Finding] = []
        found.extend(self._secret_key_findings())
        found.append(
            Finding(Severity.ERROR, "SKILLS_DEBUG", "debug mode must be off in production")
            if self.debug and self.is_production
            else Finding(Severity.OK, "SKILLS_DEBUG", f"debug is {'on' if self.debug else 'off'}")
        )
        if self.uses_sqlite and self.is_production and not self.allow_sqlite:
            found.append(
                Finding(
                    Severity.ERROR,
                    "SKILLS_DATABASE_URL",
                    "SQLite in production needs SKILLS_ALLOW_SQLITE=true",
                )
            )
        else:
            backend = "SQLite" if self.uses_sqlite else self.sqlalchemy_url.split(":", 1)[0]
            found.append(Finding(Severity.OK, "SKILLS_DATABASE_URL", f"database: {backend}"))
        if self.redis_url is None and self.is_production:
            found.append(
                Finding(
                    Severity.WARNING,
                    "SKILLS_REDIS_URL",
                    "no Redis: rate limits and sessions are per process",
                )
            )
        if self.cache_redis_url is not None and self.cache_redis_url == self.redis_url:
            found.append(
                Finding(
                    Severity.WARNING,
                    "SKILLS_CACHE_REDIS_URL",
                    "the chart cache shares the Redis of sessions and rate limits; "
                    "give it an instance of its own",
                )
            )
        found.extend(
            Finding(Severity.WARNING, name, "not a setting of this service (typo?)")
            for name in self.unrecognised
        )
        if self.oidc_audience and self.oidc_audience == self.oidc_client_id:
            found.append(
                Finding(
                    Severity.WARNING,
                    "SKILLS_OIDC_AUDIENCE",
                    "the API audience equals the client id, so ID tokens would pass as "
                    "access tokens; use a separate API audience",
                )
            )
        found.append(
            Finding(
                Severity.OK,
                "SKILLS_PUBLIC_API_DOCS",
                "API docs: " + ("public" if self.api_docs_public else "signed-in callers only"),
            )
        )
        if self.is_production and not self.trusted_proxies:
            found.append(
                Finding(
                    Severity.WARNING,
                    "SKILLS_TRUSTED_PROXIES",
                    "no trusted proxies: client addresses are the direct peer",
                )
            )
        return found

    def _secret_key_findings(self) -> list[Finding]:
        name = "SKILLS_SECRET_KEY"
        if self.secret_key is None:
            if self.is_production:
                return [Finding(Severity.ERROR, name, "secret key is missing")]
            return [
                Finding(
                    Severity.WARNING,
                    name,
                    "secret key is missing: a random one is used and sessions end at restart",
                )
            ]
        key = self.secret_key.get_secret_value()
        if key.strip().lower() in PLACEHOLDER_SECRETS:
            return [Finding(Severity.ERROR, name, "secret key is a known placeholder")]
        if len(key.encode()) < MIN_SECRET_KEY_BYTES:
            severity = Severity.ERROR if self.is_production else Severity.WARNING
            return [
                Finding(severity, name, f"secret key is shorter than {MIN_SECRET_KEY_BYTES} bytes")
            ]
        if _guessing_bits(key) < MIN_SECRET_KEY_BITS:
            severity = Severity.ERROR if self.is_production else Severity.WARNING
            return [
                Finding(
                    severity,
                    name,
                    f"secret key is too guessable (below an estimated {MIN_SECRET_KEY_BITS} "
                    "bits): use the output of `openssl rand -base64 32`",
                )
            ]
        return [Finding(Severity.OK, name, "secret key is set")]

    def errors(self) -> list[Finding]:
        return [finding for finding in self.findings() if finding.severity is Severity.ERROR]

    def guard(self) -> None:
        """Refuse a configuration with errors (production only; development warns)."""
        errors = self.errors()
        if errors:
            first = errors[0]
            raise ConfigError(f"{first.setting}: {first.message}")

    def secret_key_bytes(self) -> bytes:
        if self.secret_key is None:
            return secrets.token_bytes(MIN_SECRET_KEY_BYTES)
        return self.secret_key.get_secret_value().encode()


def _values_from_environ(environ: Mapping[str, str]) -> dict[str, object]:
    known = set(Settings.model_fields) - {"unrecognised"}
    values: dict[str, object] = {}
    unrecognised: list[str] = []
    for key, raw in environ.items():
        if not key.startswith(PREFIX):
            continue
        name = key[len(PREFIX) :].lower()
        if name.endswith("_file") and name[: -len("_file")] in SECRET_FIELDS:
            field = name[: -len("_file")]
            if PREFIX + field.upper() in environ:
                raise ConfigError(f"{key}: set either {PREFIX}{field.upper()} or {key}, not both")
            values[field] = _read_secret_file(key, raw)
        elif name in known:
            values[name] = raw
        else:
            unrecognised.append(key)
    values["unrecognised"] = tuple(sorted(unrecognised))
    return values


@lru_cache(maxsize=8)
def _guessing_bits(key: str) -> float:
    """zxcvbn's estimate of the guesses needed to find ``key``, in bits.

    zxcvbn is quadratic in length, so it reads the first 100 characters: enough for any
    strong key to score far above the minimum. Cached, as every app factory call checks.
    """
    return float(zxcvbn(key[:100])["guesses_log10"]) * math.log2(10)


def _read_secret_file(key: str, path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {path}: {exc.strerror}") from None
