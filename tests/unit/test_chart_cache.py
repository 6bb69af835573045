"""The dashboard's chart cache: kept for its TTL, bounded, and off at TTL zero."""

from __future__ import annotations

from datetime import date

from skills_service.dashboard.charts import LOCAL_ENTRIES, ChartCache, Charts, cache_key
from skills_service.services.analytics import Scope


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Counter:
    """A stand-in for the expensive aggregate queries: counts how often it runs."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> Charts:
        self.calls += 1
        return [{"data": [], "layout": {"title": {"text": f"run {self.calls}"}}}]


def test_a_second_ask_within_the_ttl_is_served_from_the_cache() -> None:
    clock, compute = Clock(), Counter()
    cache = ChartCache(None, ttl_seconds=300, clock=clock)
    first = cache.get_or_compute("k", compute)
    clock.now += 299
    assert cache.get_or_compute("k", compute) == first
    assert compute.calls == 1


def test_after_the_ttl_the_charts_are_computed_again() -> None:
    clock, compute = Clock(), Counter()
    cache = ChartCache(None, ttl_seconds=300, clock=clock)
    cache.get_or_compute("k", compute)
    clock.now += 300
    assert cache.get_or_compute("k", compute)[0]["layout"]["title"]["text"] == "run 2"


def test_a_zero_ttl_never_caches() -> None:
    compute = Counter()
    cache = ChartCache(None, ttl_seconds=0)
    cache.get_or_compute("k", compute)
    cache.get_or_compute("k", compute)
    assert compute.calls == 2


def test_the_in_process_cache_is_bounded() -> None:
    compute = Counter()
    cache = ChartCache(None, ttl_seconds=300, clock=Clock())
    for number in range(LOCAL_ENTRIES + 1):
        cache.get_or_compute(f"k{number}", compute)
    cache.get_or_compute("k0", compute)
    assert compute.calls == LOCAL_ENTRIES + 2


def test_the_key_holds_the_filters_and_the_day_but_no_user() -> None:
    today = date(2026, 11, 23)
    assert cache_key(Scope(today=today, team_id=7, category="Data")) == cache_key(
        Scope(today=today, team_id=7, category="DATA")
    )
    assert cache_key(Scope(today=today)) != cache_key(Scope(today=today, team_id=7))
    assert cache_key(Scope(today=today)) != cache_key(Scope(today=date(2026, 11, 24)))
