"""Shared fixtures: an app per test on a fresh database, for every configured backend.

SQLite always runs. PostgreSQL and Redis run when ``SKILLS_TEST_DATABASE_URL`` and
``SKILLS_TEST_REDIS_URL`` are set; under ``CI=true`` they must be set and reachable,
so a broken service fails the run instead of silently skipping half of it.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from argon2 import PasswordHasher, Type
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import Engine, insert, text

from skills_service import create_app, migrations, redis_client
from skills_service.database import make_engine
from skills_service.extensions import db
from skills_service.models import AuditHead, Base
from skills_service.services import audit, passwords, people, tokens
from skills_service.settings import Settings

POSTGRES_URL = os.environ.get("SKILLS_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("SKILLS_TEST_REDIS_URL")
IN_CI = os.environ.get("CI") == "true"
TEST_SECRET_KEY = "xX2kJrw97crG2HndS9tUJdg9LTzw6C2K04D0xUAFm_w"
PASSWORD = "a perfectly long test password"

BACKENDS = ["sqlite", *(["postgresql"] if POSTGRES_URL else [])]


def pytest_sessionstart(session: pytest.Session) -> None:
    if IN_CI and not (POSTGRES_URL and REDIS_URL):
        raise pytest.UsageError("CI=true needs SKILLS_TEST_DATABASE_URL and SKILLS_TEST_REDIS_URL")


@pytest.fixture(autouse=True)
def _fresh_redis() -> Iterator[None]:
    """Each test starts with an empty Redis database: no counters or sessions carried over."""
    if REDIS_URL is None:
        yield
        return
    connection = Redis.from_url(REDIS_URL)
    try:
        connection.flushdb()
    except RedisError as exc:  # pragma: no cover - only when the service is down
        pytest.fail(f"Redis at SKILLS_TEST_REDIS_URL is unreachable: {exc}")
    finally:
        connection.close()
    yield


@pytest.fixture
def redis() -> Iterator[Redis]:
    """A connection to the Redis database of ``SKILLS_TEST_REDIS_URL``."""
    if REDIS_URL is None:
        pytest.skip("needs SKILLS_TEST_REDIS_URL")
    connection = Redis.from_url(REDIS_URL)
    yield connection
    connection.close()


@pytest.fixture(scope="session")
def postgres_schema_url() -> Iterator[str]:
    """A private schema in the test database, migrated once, dropped at the end."""
    assert POSTGRES_URL is not None
    schema = f"skills_test_{uuid.uuid4().hex[:10]}"
    admin = make_engine(POSTGRES_URL)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # pragma: no cover - only when the service is down
        pytest.fail(f"PostgreSQL at SKILLS_TEST_DATABASE_URL is unreachable: {exc}")
    separator = "&" if "?" in POSTGRES_URL else "?"
    url = f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema}')}"
    engine = make_engine(url)
    migrations.upgrade(engine)
    engine.dispose()
    yield url
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "skills.db"
    engine = make_engine(f"sqlite:///{path}")
    migrations.upgrade(engine)
    engine.dispose()
    return path


def _empty_tables(engine: Engine) -> None:
    names = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        # A connection a previous test leaked would block TRUNCATE forever: fail instead.
        connection.execute(text("SET LOCAL lock_timeout = '15s'"))
        # The audit table's append-only trigger refuses TRUNCATE; as superuser, skip it.
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        connection.execute(
            insert(AuditHead).values(id=audit.HEAD_ID, seq=0, hash=audit.GENESIS_HASH)
        )


def fresh_postgresql(request: pytest.FixtureRequest) -> str:
    """The test schema, emptied."""
    url: str = request.getfixturevalue("postgres_schema_url")
    engine = make_engine(url)
    _empty_tables(engine)
    engine.dispose()
    return url


def fresh_sqlite(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A copy of the migrated template."""
    template: Path = request.getfixturevalue("sqlite_template")
    target = tmp_path / "skills.db"
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return fresh_postgresql(request)
    return fresh_sqlite(request, tmp_path)


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing() -> Iterator[None]:
    """Hash with a cheap argon2id: the production cost (64 MiB, 3 passes, about 0.2 s a
    hash) would spend minutes of the suite on signing in. ``test_passwords`` asserts
    the production cost itself."""
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "HASHER", cheap)
        yield


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        env="development",
        secret_key=TEST_SECRET_KEY,
        database_url=database_url,
        instance_path=tmp_path,
        log_level="WARNING",
    )


def changed(settings: Settings, **changes: object) -> Settings:
    """A validated copy of ``settings`` with ``changes`` (model_copy skips validation)."""
    return Settings.model_validate({**settings.model_dump(), **changes})


MakeApp = Callable[[Settings], Flask]


@pytest.fixture
def make_app() -> Iterator[MakeApp]:
    """Build apps from settings; their connections are closed after the test."""
    made: list[Flask] = []

    def make(settings: Settings) -> Flask:
        app = create_app(settings)
        app.config["TESTING"] = True
        made.append(app)
        return app

    yield make
    for app in made:
        db.engine(app).dispose()
        for key in (redis_client.EXTENSION_KEY, redis_client.CACHE_EXTENSION_KEY):
            redis_connection = app.extensions.get(key)
            if redis_connection is not None:
                redis_connection.close()


@pytest.fixture
def app(settings: Settings, make_app: MakeApp) -> Flask:
    return make_app(settings)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@dataclass(frozen=True)
class Actor:
    """A person with a token, ready to call the API."""

    person_id: int
    email: str
    role: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


MakeActor = Callable[..., Actor]


@pytest.fixture
def make_actor(app: Flask) -> MakeActor:
    counter = iter(range(1, 10_000))

    def make(
        role: str = "member",
        *,
        scopes: tuple[str, ...] = ("read", "write"),
        name: str | None = None,
    ) -> Actor:
        number = next(counter)
        email = f"{role}{number}@example.org"
        with app.app_context():
            session = db.session
            with session.begin():
                person = people.create_person(
                    session, email=email, name=name or f"{role.title()} {number}", role=role
                )
                issued = tokens.create_token(
                    session,
                    person=person,
                    name="test",
                    scopes=scopes,
                    expires_days=30,
                    max_days=365,
                )
            return Actor(person.id, email, role, issued.secret)

    return make


@pytest.fixture
def admin(make_actor: MakeActor) -> Actor:
    return make_actor("admin")


@pytest.fixture
def member(make_actor: MakeActor) -> Actor:
    return make_actor("member")
