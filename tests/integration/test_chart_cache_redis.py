"""The chart cache in Redis: shared by replicas, and a Redis outage is not an error."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import date

import pytest
from redis import Redis

from skills_service.dashboard.charts import (
    INDEX_KEY,
    KEEP_SECONDS,
    KEY_PREFIX,
    MAX_ENTRIES,
    ChartCache,
    Charts,
)
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.skipif(REDIS_URL is None, reason="needs SKILLS_TEST_REDIS_URL")
TODAY = date(2026, 11, 23)


def charts(label: str) -> Charts:
    return [{"data": [], "layout": {"title": {"text": label}}}]


def test_charts_computed_on_one_replica_are_served_on_another(redis: Redis) -> None:
    key = f"skills:dashboard:test:{uuid.uuid4().hex}"
    first, second = ChartCache(redis, ttl_seconds=60), ChartCache(redis, ttl_seconds=60)
    assert first.get_or_compute(key, TODAY, lambda: charts("once")) == charts("once")
    assert second.get_or_compute(key, TODAY, lambda: charts("twice")) == charts("once")
    assert 0 < redis.ttl(key) <= 60 + KEEP_SECONDS
    redis.delete(key)


def test_only_one_replica_refreshes_stale_charts(redis: Redis) -> None:
    key = f"skills:dashboard:test:{uuid.uuid4().hex}"
    later = time.time() + 120
    jobs: list[Callable[[], None]] = []
    replicas = [
        ChartCache(redis, ttl_seconds=60, clock=lambda: later, run=jobs.append) for _ in range(3)
    ]
    ChartCache(redis, ttl_seconds=60).get_or_compute(key, TODAY, lambda: charts("old"))
    for replica in replicas:
        assert replica.get_or_compute(key, TODAY, lambda: charts("new")) == charts("old")
    assert len(jobs) == 1
    jobs[0]()
    assert replicas[1].get_or_compute(key, TODAY, lambda: charts("newer")) == charts("new")
    assert redis.exists(key + ":refresh") == 0
    redis.delete(key)


def test_an_unreachable_redis_costs_a_recomputation_not_an_error() -> None:
    unreachable = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    cache = ChartCache(unreachable, ttl_seconds=60)
    assert cache.get_or_compute("k", TODAY, lambda: charts("fresh")) == charts("fresh")


def test_redis_keeps_at_most_max_entries_dropping_the_oldest(redis: Redis) -> None:
    cache = ChartCache(redis, ttl_seconds=60)
    for number in range(MAX_ENTRIES + 40):
        cache.get_or_compute(f"{KEY_PREFIX}bound:{number}", TODAY, lambda: charts("any"))
    assert len(list(redis.scan_iter(f"{KEY_PREFIX}bound:*"))) == MAX_ENTRIES
    assert redis.zcard(INDEX_KEY) == MAX_ENTRIES
    assert redis.exists(f"{KEY_PREFIX}bound:{MAX_ENTRIES + 39}")
    assert not redis.exists(f"{KEY_PREFIX}bound:39")
