"""A flood of dashboard callbacks cannot grow the chart cache or evict sessions and counters.

The cache lives on a Redis instance of its own (``SKILLS_CACHE_REDIS_URL``) that
evicts under memory pressure, while sessions and rate-limit counters stay on
``SKILLS_REDIS_URL``. The test starts a private ``redis-server`` with a 2 MB limit and
``allkeys-lru`` for the cache, as compose and Kubernetes configure it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from redis.exceptions import RedisError

from skills_service.dashboard import CACHE_KEY
from skills_service.dashboard.charts import INDEX_KEY, KEY_PREFIX, MAX_ENTRIES, ChartCache, Charts
from skills_service.extensions import db
from skills_service.services import skills
from skills_service.settings import Settings
from tests.conftest import REDIS_URL, MakeActor, MakeApp, changed
from tests.integration.browser import page_text, sign_in, signed_in
from tests.integration.test_dashboard import call, dashboard_client
from tests.integration.world import World, build_world

pytestmark = pytest.mark.skipif(REDIS_URL is None, reason="needs SKILLS_TEST_REDIS_URL")
REDIS_SERVER = shutil.which("redis-server")
TODAY = date(2026, 11, 23)
CHART_BYTES = 32 * 1024


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def cache_redis_url(tmp_path: Path) -> Iterator[str]:
    """A private Redis that evicts any key under a 2 MB limit, like the cache instance."""
    if REDIS_SERVER is None:
        pytest.skip("needs redis-server")
    port = free_port()
    server = subprocess.Popen(
        [
            REDIS_SERVER,
            *("--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path)),
            *("--save", "", "--appendonly", "no"),
            *("--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru"),
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    probe = Redis.from_url(url)
    try:
        for _ in range(100):
            try:
                probe.ping()
                break
            except RedisError:
                time.sleep(0.05)
        else:
            pytest.fail("the private redis-server did not answer")
        yield url
    finally:
        probe.close()
        server.terminate()
        server.wait()


def with_redis(settings: Settings, cache_url: str | None = None) -> Settings:
    return changed(settings, redis_url=REDIS_URL, cache_redis_url=cache_url)


def big_charts(number: int) -> Charts:
    return [{"data": [], "layout": {"title": {"text": f"{number:06d}" + "x" * CHART_BYTES}}}]


@dataclass(frozen=True)
class Dashboard:
    """An app whose chart cache is the private Redis, and a viewer on its dashboard."""

    app: Flask
    world: World
    client: FlaskClient
    token: str

    def ask(self, **filters: object) -> int:
        """The status of a chart callback with these filters."""
        status: int = call(self.client, self.token, **filters).status_code
        return status


@pytest.fixture
def dashboard(
    settings: Settings, make_app: MakeApp, make_actor: MakeActor, cache_redis_url: str
) -> Dashboard:
    app = make_app(with_redis(settings, cache_redis_url))
    world = build_world(app, make_actor)
    client, token = dashboard_client(app, world.viewer)
    return Dashboard(app, world, client, token)


def test_unknown_filters_are_refused_and_cache_nothing(
    dashboard: Dashboard, cache_redis_url: str
) -> None:
    for number in range(20):
        assert (
            call(dashboard.client, dashboard.token, category=f"flood-{number}").status_code == 422
        )
    assert dashboard.ask(category="languages") == 422
    cache = Redis.from_url(cache_redis_url)
    assert cache.dbsize() == 0
    cache.close()


def test_charts_of_existing_filters_go_to_the_cache_redis(
    dashboard: Dashboard, cache_redis_url: str
) -> None:
    assert dashboard.ask(category="Languages") == 200
    assert dashboard.ask() == 200
    cache = Redis.from_url(cache_redis_url)
    assert cache.zcard(INDEX_KEY) == 2
    cache.close()


def test_an_admin_asking_for_a_team_that_does_not_exist_is_refused(
    app: Flask, make_actor: MakeActor
) -> None:
    world = build_world(app, make_actor)
    client, token = dashboard_client(app, world.admin)
    assert call(client, token, team=world.team_id + 1000).status_code == 422
    assert call(client, token, team=2**31).status_code == 422


def test_without_a_cache_url_the_charts_stay_out_of_the_sessions_redis(
    settings: Settings, make_app: MakeApp, make_actor: MakeActor, redis: Redis
) -> None:
    app = make_app(with_redis(settings))
    world = build_world(app, make_actor)
    client, token = dashboard_client(app, world.viewer)
    assert call(client, token, category="Languages").status_code == 200
    assert list(redis.scan_iter(KEY_PREFIX + "*")) == []


def test_cache_pressure_evicts_neither_sessions_nor_rate_limit_counters(
    dashboard: Dashboard, cache_redis_url: str, redis: Redis
) -> None:
    app, world = dashboard.app, dashboard.world
    victim = signed_in(app, world.member)
    for _ in range(3):
        assert sign_in(app.test_client(), world.admin.email, "not the password").status_code == 401
    before = set(redis.scan_iter())
    assert any(b"session" in key for key in before)
    assert any(b"LIMIT" in key.upper() for key in before)
    for number in range(40):
        assert (
            call(dashboard.client, dashboard.token, category=f"flood-{number}").status_code == 422
        )
    cache: ChartCache = app.extensions[CACHE_KEY]
    for number in range(MAX_ENTRIES):
        cache.get_or_compute(f"{KEY_PREFIX}pressure:{number}", TODAY, partial(big_charts, number))
    cache_redis = Redis.from_url(cache_redis_url)
    assert cache_redis.info("stats")["evicted_keys"] > 0
    cache_redis.close()
    assert before <= set(redis.scan_iter())
    page_text(victim, "/")


def test_categories_of_the_catalogue_are_the_only_cache_keys(
    app: Flask, make_actor: MakeActor
) -> None:
    world = build_world(app, make_actor)
    with app.app_context():
        session = db.session
        with session.begin():
            skills.create_skill(session, name="Postgres", category="Data")
    client, token = dashboard_client(app, world.viewer)
    assert call(client, token, category="Data").status_code == 200
    assert call(client, token, category="DATA").status_code == 422
