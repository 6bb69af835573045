"""Outages of PostgreSQL and Redis, staged with a TCP proxy between the app and each.

While a store is out of reach, the requests that need it answer 503 (problem+json,
or an error page on browser paths) and readiness names what is missing; once it is
back the same app, never restarted, answers 200 again. No acknowledged write is
lost and no failed one is half applied.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from flask import Flask
from sqlalchemy import Engine, func, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.test import TestResponse

from skills_service.database import CONNECT_TIMEOUT_SECONDS, make_engine
from skills_service.extensions import db
from skills_service.models import ApiToken, Proficiency, ProficiencyChange, Skill
from skills_service.services import skills
from skills_service.settings import Settings
from tests.conftest import POSTGRES_URL, REDIS_URL, Actor, MakeActor, MakeApp, changed
from tests.integration.browser import signed_in
from tests.integration.tcp_proxy import TcpProxy

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(POSTGRES_URL is None, reason="needs SKILLS_TEST_DATABASE_URL"),
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]
needs_redis = pytest.mark.skipif(REDIS_URL is None, reason="needs SKILLS_TEST_REDIS_URL")

HISTORY_INSERT = b"INSERT INTO proficiency_change"
LEAKS = ("traceback", "psycopg", "sqlalchemy", "select ", "insert ", "redis", "127.0.0.1")


@pytest.fixture
def database_proxy(settings: Settings) -> Iterator[TcpProxy]:
    url = make_url(settings.sqlalchemy_url)
    with TcpProxy.running((url.host or "127.0.0.1", url.port or 5432)) as proxy:
        yield proxy


@pytest.fixture
def app(settings: Settings, database_proxy: TcpProxy, make_app: MakeApp) -> Flask:
    """The app under test; it reaches PostgreSQL only through the proxy."""
    url = make_url(settings.sqlalchemy_url).set(host="127.0.0.1", port=database_proxy.port)
    return make_app(changed(settings, database_url=url.render_as_string(hide_password=False)))


@pytest.fixture
def database(settings: Settings) -> Iterator[Engine]:
    """A direct connection, past the proxy, to see what was really committed."""
    engine = make_engine(settings.sqlalchemy_url)
    yield engine
    engine.dispose()


@pytest.fixture
def skill_ids(app: Flask) -> list[int]:
    with app.app_context(), db.session.begin():
        made = [
            skills.create_skill(db.session, name=f"Skill {number}", category="Outage")
            for number in range(40)
        ]
    return [skill.id for skill in made]


def put_level(app: Flask, actor: Actor, skill_id: int, level: int = 3) -> TestResponse:
    return app.test_client().put(
        f"/api/v1/people/{actor.person_id}/skills/{skill_id}",
        json={"level": level},
        headers=actor.headers,
    )


def rows_for(database: Engine, person_id: int, skill_id: int) -> tuple[int, int]:
    """(proficiencies, history entries) stored for one person and skill."""
    with database.connect() as connection:
        held = connection.scalar(
            select(func.count())
            .select_from(Proficiency)
            .where(Proficiency.person_id == person_id, Proficiency.skill_id == skill_id)
        )
        history = connection.scalar(
            select(func.count())
            .select_from(ProficiencyChange)
            .where(ProficiencyChange.person_id == person_id, ProficiencyChange.skill_id == skill_id)
        )
    return held or 0, history or 0


def assert_unavailable_problem(response: TestResponse) -> None:
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.headers["Retry-After"].isdigit()
    body: dict[str, Any] = response.json or {}
    assert body["status"] == 503
    assert body["title"] == "Service Unavailable"
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert_nothing_leaks(response)


def assert_unavailable_page(response: TestResponse) -> None:
    assert response.status_code == 503
    assert response.mimetype == "text/html"
    assert response.headers["Retry-After"].isdigit()
    assert "Content-Security-Policy" in response.headers
    assert response.headers["X-Request-ID"] in response.get_data(as_text=True)
    assert_nothing_leaks(response)


def assert_nothing_leaks(response: TestResponse) -> None:
    text = response.get_data(as_text=True).lower()
    assert not [leak for leak in LEAKS if leak in text]


# PostgreSQL


def test_api_reads_and_writes_answer_503_problem_json_while_the_database_is_down(
    app: Flask, database_proxy: TcpProxy, member: Actor, skill_ids: list[int]
) -> None:
    client = app.test_client()
    assert put_level(app, member, skill_ids[0]).status_code == 201
    database_proxy.cut()
    assert_unavailable_problem(client.get("/api/v1/me", headers=member.headers))
    assert_unavailable_problem(client.get("/api/v1/skills", headers=member.headers))
    assert_unavailable_problem(put_level(app, member, skill_ids[1]))


def test_readiness_fails_with_the_reason_while_the_database_is_down(
    app: Flask, database_proxy: TcpProxy
) -> None:
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    database_proxy.cut()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "reasons": ["database unreachable"]}


def test_the_same_app_answers_again_once_the_database_is_back(
    app: Flask, database_proxy: TcpProxy, member: Actor, skill_ids: list[int], database: Engine
) -> None:
    client = app.test_client()
    database_proxy.cut()
    assert put_level(app, member, skill_ids[0]).status_code == 503
    assert client.get("/readyz").status_code == 503
    database_proxy.restore()
    assert client.get("/readyz").status_code == 200
    assert client.get("/api/v1/me", headers=member.headers).status_code == 200
    assert rows_for(database, member.person_id, skill_ids[0]) == (0, 0)
    assert put_level(app, member, skill_ids[0]).status_code == 201


def test_connections_pooled_before_an_outage_are_replaced_after_it(
    app: Flask, database_proxy: TcpProxy, member: Actor
) -> None:
    client = app.test_client()
    assert client.get("/api/v1/me", headers=member.headers).status_code == 200
    pool = db.engine(app).pool
    assert pool.checkedin() >= 1
    database_proxy.cut()
    database_proxy.restore()
    assert client.get("/api/v1/me", headers=member.headers).status_code == 200
    assert client.get("/readyz").status_code == 200


def test_a_write_cut_off_in_mid_transaction_is_503_and_leaves_nothing_behind(
    app: Flask, database_proxy: TcpProxy, member: Actor, skill_ids: list[int], database: Engine
) -> None:
    database_proxy.cut_before(HISTORY_INSERT)
    assert_unavailable_problem(put_level(app, member, skill_ids[0]))
    database_proxy.restore()
    assert rows_for(database, member.person_id, skill_ids[0]) == (0, 0)


def test_a_write_whose_commit_went_unacknowledged_is_503_and_whole(
    app: Flask, database_proxy: TcpProxy, member: Actor, skill_ids: list[int], database: Engine
) -> None:
    database_proxy.cut_after(HISTORY_INSERT, b"COMMIT")
    assert_unavailable_problem(put_level(app, member, skill_ids[0]))
    database_proxy.restore()
    assert rows_for(database, member.person_id, skill_ids[0]) == (1, 1)
    again = put_level(app, member, skill_ids[0])
    assert again.status_code == 428, "the write is there: replacing it needs its ETag"


def test_every_acknowledged_write_survives_an_outage_and_none_is_half_applied(
    app: Flask, database_proxy: TcpProxy, member: Actor, skill_ids: list[int], database: Engine
) -> None:
    outcomes: dict[int, int] = {}
    progress = threading.Condition()
    back = threading.Event()

    def write_all() -> None:
        for skill_id in skill_ids:
            status = put_level(app, member, skill_id).status_code
            with progress:
                outcomes[skill_id] = status
                progress.notify_all()
            if status == 503:
                back.wait(0.02)  # a client backing off while the service is down

    def wait_for(count: int, status: int) -> None:
        with progress:
            assert progress.wait_for(
                lambda: sum(1 for code in outcomes.values() if code == status) >= count, 10
            )

    writer = threading.Thread(target=write_all)
    writer.start()
    wait_for(5, 201)
    database_proxy.cut()
    wait_for(3, 503)
    database_proxy.restore()
    back.set()
    writer.join(30)
    assert not writer.is_alive()

    assert set(outcomes.values()) <= {201, 503}
    for skill_id, status in outcomes.items():
        held, history = rows_for(database, member.person_id, skill_id)
        if status == 201:
            assert (held, history) == (1, 1), f"acknowledged write to skill {skill_id} lost"
        else:
            assert (held, history) in {(0, 0), (1, 1)}, f"write to skill {skill_id} half applied"
    assert list(outcomes.values())[-1] == 201


def test_a_database_that_stops_answering_costs_a_request_the_connect_timeout(
    app: Flask, database_proxy: TcpProxy, member: Actor
) -> None:
    client = app.test_client()
    assert client.get("/api/v1/me", headers=member.headers).status_code == 200
    database_proxy.stall()
    started = time.monotonic()
    assert_unavailable_problem(client.get("/api/v1/me", headers=member.headers))
    assert time.monotonic() - started < CONNECT_TIMEOUT_SECONDS + 3
    database_proxy.restore()
    assert client.get("/api/v1/me", headers=member.headers).status_code == 200


def test_a_request_that_finds_no_free_connection_in_time_is_503(app: Flask, member: Actor) -> None:
    engine = db.engine(app)
    # Wait 0.2 s for a free connection instead of the production 30 s.
    engine.pool._timeout = 0.2
    client = app.test_client()
    with ExitStack() as held:
        with pytest.raises(PoolTimeout):
            while True:
                held.enter_context(engine.connect())
        assert_unavailable_problem(client.get("/api/v1/me", headers=member.headers))
    assert client.get("/api/v1/me", headers=member.headers).status_code == 200


def test_pages_show_a_503_page_while_the_database_is_down(
    app: Flask, database_proxy: TcpProxy, member: Actor
) -> None:
    browser = signed_in(app, member)
    database_proxy.cut()
    assert_unavailable_page(browser.get("/"))
    database_proxy.restore()
    assert browser.get("/").status_code == 200


# Redis


@pytest.fixture
def redis_proxy() -> Iterator[TcpProxy]:
    assert REDIS_URL is not None
    url = urlsplit(REDIS_URL)
    with TcpProxy.running((url.hostname or "127.0.0.1", url.port or 6379)) as proxy:
        yield proxy


@pytest.fixture
def redis_app(settings: Settings, redis_proxy: TcpProxy, make_app: MakeApp) -> Flask:
    """An app whose sessions, rate limits and chart cache reach Redis through the proxy."""
    assert REDIS_URL is not None
    url = urlsplit(REDIS_URL)
    credentials = url.netloc.rpartition("@")[0]
    netloc = f"{credentials}@" if credentials else ""
    proxied = urlunsplit(url._replace(netloc=f"{netloc}127.0.0.1:{redis_proxy.port}"))
    return make_app(changed(settings, redis_url=proxied))


@needs_redis
def test_while_redis_is_down_session_requests_are_503_and_token_requests_go_on(
    redis_app: Flask, redis_proxy: TcpProxy, make_actor: MakeActor
) -> None:
    member = make_actor("member")
    browser = signed_in(redis_app, member)
    redis_proxy.cut()
    assert_unavailable_page(browser.get("/account"))
    assert_unavailable_problem(browser.get("/api/v1/me"))
    with_token = redis_app.test_client().get("/api/v1/me", headers=member.headers)
    assert with_token.status_code == 200


@needs_redis
def test_while_redis_is_down_a_cached_token_is_checked_against_the_database(
    redis_app: Flask, redis_proxy: TcpProxy, make_actor: MakeActor, database: Engine
) -> None:
    """A snapshot that cannot be checked is never served: the database decides."""
    member = make_actor("member")
    client = redis_app.test_client()
    for _ in range(2):
        assert client.get("/api/v1/skills", headers=member.headers).status_code == 200
    redis_proxy.cut()
    with database.begin() as connection:
        connection.execute(update(ApiToken).values(revoked_at=func.now()))
    assert client.get("/api/v1/skills", headers=member.headers).status_code == 401


@needs_redis
def test_a_catalogue_change_is_refused_while_redis_is_down_and_leaves_nothing_behind(
    redis_app: Flask, redis_proxy: TcpProxy, make_actor: MakeActor, database: Engine
) -> None:
    """Committed unpublished, the change would stay unseen by replicas reading Redis."""
    admin = make_actor("admin")
    client = redis_app.test_client()
    created = client.post(
        "/api/v1/skills", json={"name": "Before", "category": "Outage"}, headers=admin.headers
    )
    assert created.status_code == 201
    redis_proxy.cut()
    refused = client.patch(
        f"/api/v1/skills/{created.json['id']}",
        json={"name": "During"},
        headers={**admin.headers, "If-Match": created.headers["ETag"]},
    )
    assert_unavailable_problem(refused)
    with database.connect() as connection:
        assert connection.scalar(select(Skill.name)) == "Before"
    redis_proxy.restore()
    listed = client.get("/api/v1/skills", headers=admin.headers)
    assert [skill["name"] for skill in listed.json["items"]] == ["Before"]


@needs_redis
def test_no_session_can_be_started_while_redis_is_down(
    redis_app: Flask, redis_proxy: TcpProxy
) -> None:
    redis_proxy.cut()
    assert_unavailable_page(redis_app.test_client().get("/login"))


@needs_redis
def test_readiness_fails_with_the_reason_while_redis_is_down(
    redis_app: Flask, redis_proxy: TcpProxy
) -> None:
    client = redis_app.test_client()
    assert client.get("/readyz").status_code == 200
    redis_proxy.cut()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "reasons": ["redis unreachable"]}


@needs_redis
def test_sessions_outlive_a_redis_outage_and_work_again_once_it_is_back(
    redis_app: Flask, redis_proxy: TcpProxy, make_actor: MakeActor
) -> None:
    browser = signed_in(redis_app, make_actor("member"))
    redis_proxy.cut()
    assert browser.get("/account").status_code == 503
    redis_proxy.restore()
    assert browser.get("/account").status_code == 200
    assert redis_app.test_client().get("/readyz").status_code == 200


@needs_redis
def test_redis_connections_pooled_before_an_outage_are_replaced_after_it(
    redis_app: Flask, redis_proxy: TcpProxy, make_actor: MakeActor
) -> None:
    browser = signed_in(redis_app, make_actor("member"))
    assert browser.get("/account").status_code == 200
    redis_proxy.cut()
    redis_proxy.restore()
    assert browser.get("/account").status_code == 200
    assert redis_app.test_client().get("/readyz").status_code == 200
