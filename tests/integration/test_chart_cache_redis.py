"""The chart cache in Redis: shared by replicas, and a Redis outage is not an error."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from redis import Redis

from skills_service.dashboard.charts import ChartCache, Charts
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.skipif(REDIS_URL is None, reason="needs SKILLS_TEST_REDIS_URL")


@pytest.fixture
def redis() -> Iterator[Redis]:
    assert REDIS_URL is not None
    connection = Redis.from_url(REDIS_URL)
    yield connection
    connection.close()


def charts(label: str) -> Charts:
    return [{"data": [], "layout": {"title": {"text": label}}}]


def test_charts_computed_on_one_replica_are_served_on_another(redis: Redis) -> None:
    key = f"skills:dashboard:test:{uuid.uuid4().hex}"
    first, second = ChartCache(redis, ttl_seconds=60), ChartCache(redis, ttl_seconds=60)
    assert first.get_or_compute(key, lambda: charts("computed once")) == charts("computed once")
    assert second.get_or_compute(key, lambda: charts("computed twice")) == charts("computed once")
    assert 0 < redis.ttl(key) <= 60
    redis.delete(key)


def test_an_unreachable_redis_costs_a_recomputation_not_an_error() -> None:
    unreachable = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    cache = ChartCache(unreachable, ttl_seconds=60)
    assert cache.get_or_compute("k", lambda: charts("fresh")) == charts("fresh")
