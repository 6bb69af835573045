"""Settings come only from SKILLS_* variables; production refuses unsafe ones."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest

from skills_service.settings import ConfigError, Settings, Severity

GOOD_KEY = "DyS3700YegnHMTEnx5IVMBrsGtD4Agj7dtygD1E4GY4"
PRODUCTION = {
    "SKILLS_ENV": "production",
    "SKILLS_SECRET_KEY": GOOD_KEY,
    "SKILLS_DATABASE_URL": "postgresql+psycopg://app@db/skills",
}


def errors_of(environ: dict[str, str]) -> list[str]:
    return [finding.setting for finding in Settings.from_environ(environ).errors()]


def test_a_sound_production_configuration_has_no_errors() -> None:
    assert errors_of(PRODUCTION) == []
    Settings.from_environ(PRODUCTION).guard()


@pytest.mark.parametrize(
    ("changes", "setting"),
    [
        ({"SKILLS_SECRET_KEY": None}, "SKILLS_SECRET_KEY"),
        ({"SKILLS_SECRET_KEY": "changeme"}, "SKILLS_SECRET_KEY"),
        ({"SKILLS_SECRET_KEY": "x" * 31}, "SKILLS_SECRET_KEY"),
        ({"SKILLS_DEBUG": "true"}, "SKILLS_DEBUG"),
        ({"SKILLS_DATABASE_URL": None}, "SKILLS_DATABASE_URL"),
        ({"SKILLS_DATABASE_URL": "sqlite:////data/skills.db"}, "SKILLS_DATABASE_URL"),
    ],
)
def test_production_refuses_an_unsafe_setting(changes: dict[str, str | None], setting: str) -> None:
    environ = {**PRODUCTION, **changes}
    environ = {key: value for key, value in environ.items() if value is not None}
    assert setting in errors_of(environ)
    with pytest.raises(ConfigError, match=setting):
        Settings.from_environ(environ).guard()


GUESSABLE_KEYS = {
    "one-letter": "a" * 32,
    "zeros": "0" * 32,
    "repeated-word": "changeme" * 5,
    "hex-sequence": "0123456789abcdef" * 2,
    "alphabet": "abcdefghijklmnopqrstuvwxyz012345",
    "keyboard-walk": "qwertyuiopasdfghjklzxcvbnm123456",
    "sentence": "correct horse battery staple and more words",
}


@pytest.mark.parametrize("key", GUESSABLE_KEYS.values(), ids=GUESSABLE_KEYS.keys())
def test_production_refuses_a_long_but_guessable_secret_key(key: str) -> None:
    with pytest.raises(ConfigError, match="SKILLS_SECRET_KEY: secret key is too guessable"):
        Settings.from_environ({**PRODUCTION, "SKILLS_SECRET_KEY": key}).guard()


def test_development_warns_about_a_guessable_secret_key() -> None:
    settings = Settings.from_environ({"SKILLS_SECRET_KEY": "a" * 32})
    assert settings.errors() == []
    assert any("too guessable" in finding.message for finding in settings.findings())


RANDOM_KEYS = {
    "token_urlsafe(32)": lambda: secrets.token_urlsafe(32),
    "openssl rand -base64 32": lambda: base64.b64encode(os.urandom(32)).decode(),
    "openssl rand -hex 32": lambda: secrets.token_hex(32),
    "token_urlsafe(48), as make run writes": lambda: secrets.token_urlsafe(48),
}


@pytest.mark.parametrize("generate", RANDOM_KEYS.values(), ids=RANDOM_KEYS.keys())
def test_production_accepts_keys_from_the_usual_generators(generate: Callable[[], str]) -> None:
    for _ in range(50):
        key = generate()
        assert errors_of({**PRODUCTION, "SKILLS_SECRET_KEY": key}) == [], key


def test_sqlite_in_production_is_allowed_when_explicit() -> None:
    environ = {
        **PRODUCTION,
        "SKILLS_DATABASE_URL": "sqlite:////data/skills.db",
        "SKILLS_ALLOW_SQLITE": "true",
    }
    assert errors_of(environ) == []


def test_development_only_warns_about_a_missing_key() -> None:
    settings = Settings.from_environ({})
    assert settings.errors() == []
    assert any(
        f.severity is Severity.WARNING and f.setting == "SKILLS_SECRET_KEY"
        for f in settings.findings()
    )
    assert len(settings.secret_key_bytes()) == 32


def test_a_secret_can_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "key"
    secret.write_text(GOOD_KEY + "\n")
    environ = {**PRODUCTION, "SKILLS_SECRET_KEY_FILE": str(secret)}
    del environ["SKILLS_SECRET_KEY"]
    settings = Settings.from_environ(environ)
    assert settings.secret_key is not None
    assert settings.secret_key.get_secret_value() == GOOD_KEY


def test_a_secret_given_twice_is_an_error(tmp_path: Path) -> None:
    secret = tmp_path / "key"
    secret.write_text(GOOD_KEY)
    with pytest.raises(ConfigError, match="not both"):
        Settings.from_environ({**PRODUCTION, "SKILLS_SECRET_KEY_FILE": str(secret)})


def test_an_unreadable_secret_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SKILLS_SECRET_KEY_FILE: cannot read"):
        Settings.from_environ({"SKILLS_SECRET_KEY_FILE": str(tmp_path / "missing")})


def test_a_malformed_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="SKILLS_MAX_BODY_BYTES"):
        Settings.from_environ({"SKILLS_MAX_BODY_BYTES": "lots"})
    with pytest.raises(ConfigError, match="SKILLS_TRUSTED_PROXIES"):
        Settings.from_environ({"SKILLS_TRUSTED_PROXIES": "10.0.0.0/8, not-a-network"})


def test_an_unknown_variable_is_reported_as_a_likely_typo() -> None:
    settings = Settings.from_environ({"SKILLS_SECERT_KEY": "x"})
    assert any(f.setting == "SKILLS_SECERT_KEY" for f in settings.findings())


def test_secrets_are_not_shown_in_the_settings_repr() -> None:
    settings = Settings.from_environ(PRODUCTION)
    assert GOOD_KEY not in repr(settings)
    assert "app@db" not in repr(settings)


def test_variables_without_the_prefix_are_ignored() -> None:
    assert Settings.from_environ({"SECRET_KEY": "x", "DATABASE_URL": "y"}).secret_key is None


def test_a_chart_cache_on_the_sessions_redis_is_warned_about() -> None:
    shared = "redis://redis:6379/0"
    environ = {**PRODUCTION, "SKILLS_REDIS_URL": shared, "SKILLS_CACHE_REDIS_URL": shared}
    warned = [f.setting for f in Settings.from_environ(environ).findings()]
    assert "SKILLS_CACHE_REDIS_URL" in warned
    apart = {**environ, "SKILLS_CACHE_REDIS_URL": "redis://redis-cache:6379/0"}
    assert "SKILLS_CACHE_REDIS_URL" not in [
        f.setting for f in Settings.from_environ(apart).findings()
    ]


def test_public_api_docs_is_read_from_the_environment() -> None:
    production = {"SKILLS_ENV": "production"}
    assert not Settings.from_environ(production).api_docs_public
    published = Settings.from_environ({**production, "SKILLS_PUBLIC_API_DOCS": "true"})
    assert published.api_docs_public
    assert Settings.from_environ({}).api_docs_public
