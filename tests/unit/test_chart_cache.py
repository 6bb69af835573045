"""The dashboard's chart cache: fresh for its TTL, then stale while one refresh runs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from skills_service.dashboard.charts import (
    KEEP_SECONDS,
    MAX_ENTRIES,
    ChartCache,
    Charts,
    cache_key,
)
from skills_service.services.analytics import Scope

TODAY = date(2026, 11, 23)


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


class Deferred:
    """Background jobs, held until the test runs them."""

    def __init__(self) -> None:
        self.jobs: list[Callable[[], None]] = []

    def __call__(self, job: Callable[[], None]) -> None:
        self.jobs.append(job)

    def run_all(self) -> None:
        jobs, self.jobs = self.jobs, []
        for job in jobs:
            job()


def title(charts: Charts) -> str:
    text: str = charts[0]["layout"]["title"]["text"]
    return text


def test_a_second_ask_within_the_ttl_is_served_from_the_cache() -> None:
    clock, compute, runner = Clock(), Counter(), Deferred()
    cache = ChartCache(None, ttl_seconds=300, clock=clock, run=runner)
    first = cache.get_or_compute("k", TODAY, compute)
    clock.now += 299
    assert cache.get_or_compute("k", TODAY, compute) == first
    assert compute.calls == 1 and runner.jobs == []


def test_after_the_ttl_stale_charts_are_served_at_once_while_one_refresh_runs() -> None:
    clock, compute, runner = Clock(), Counter(), Deferred()
    cache = ChartCache(None, ttl_seconds=300, clock=clock, run=runner)
    cache.get_or_compute("k", TODAY, compute)
    clock.now += 300
    assert title(cache.get_or_compute("k", TODAY, compute)) == "run 1"
    assert title(cache.get_or_compute("k", TODAY, compute)) == "run 1"
    assert len(runner.jobs) == 1 and compute.calls == 1
    runner.run_all()
    assert title(cache.get_or_compute("k", TODAY, compute)) == "run 2"
    assert runner.jobs == []


def test_a_new_day_makes_the_charts_stale_because_expiry_depends_on_the_date() -> None:
    compute, runner = Counter(), Deferred()
    cache = ChartCache(None, ttl_seconds=300, clock=Clock(), run=runner)
    cache.get_or_compute("k", TODAY, compute)
    assert title(cache.get_or_compute("k", date(2026, 11, 24), compute)) == "run 1"
    runner.run_all()
    assert title(cache.get_or_compute("k", date(2026, 11, 24), compute)) == "run 2"


def test_a_failed_refresh_keeps_the_charts_and_a_later_ask_tries_again() -> None:
    clock, compute, runner = Clock(), Counter(), Deferred()
    cache = ChartCache(None, ttl_seconds=300, clock=clock, run=runner)
    cache.get_or_compute("k", TODAY, compute)
    clock.now += 301

    def failing() -> Charts:
        raise RuntimeError("database went away")

    cache.get_or_compute("k", TODAY, failing)
    runner.run_all()
    assert title(cache.get_or_compute("k", TODAY, compute)) == "run 1"
    runner.run_all()
    assert title(cache.get_or_compute("k", TODAY, compute)) == "run 2"


def test_charts_nobody_asked_for_in_a_day_are_computed_while_waiting() -> None:
    clock, compute, runner = Clock(), Counter(), Deferred()
    cache = ChartCache(None, ttl_seconds=300, clock=clock, run=runner)
    cache.get_or_compute("k", TODAY, compute)
    clock.now += 300 + KEEP_SECONDS
    assert title(cache.get_or_compute("k", TODAY, compute)) == "run 2"
    assert runner.jobs == []


def test_a_zero_ttl_never_caches() -> None:
    compute = Counter()
    cache = ChartCache(None, ttl_seconds=0)
    cache.get_or_compute("k", TODAY, compute)
    cache.get_or_compute("k", TODAY, compute)
    assert compute.calls == 2


def test_the_in_process_cache_is_bounded() -> None:
    compute = Counter()
    cache = ChartCache(None, ttl_seconds=300, clock=Clock(), run=Deferred())
    for number in range(MAX_ENTRIES + 1):
        cache.get_or_compute(f"k{number}", TODAY, compute)
    cache.get_or_compute("k0", TODAY, compute)
    assert compute.calls == MAX_ENTRIES + 2


def test_the_key_holds_the_filters_but_no_user() -> None:
    assert cache_key(Scope(today=TODAY, team_id=7, category="Data")) == cache_key(
        Scope(today=TODAY, team_id=7, category="Data")
    )
    assert cache_key(Scope(today=TODAY)) != cache_key(Scope(today=TODAY, team_id=7))
    assert cache_key(Scope(today=TODAY)) != cache_key(Scope(today=TODAY, category="Data"))


def test_a_hit_reuses_the_charts_parsed_once_until_the_entry_changes() -> None:
    clock, compute, runner = Clock(), Counter(), Deferred()
    cache = ChartCache(None, ttl_seconds=60, clock=clock, run=runner)
    key = cache_key(Scope(today=TODAY))
    cache.get_or_compute(key, TODAY, compute)
    first = cache.get_or_compute(key, TODAY, compute)
    assert cache.get_or_compute(key, TODAY, compute) is first
    clock.now += 60
    cache.get_or_compute(key, TODAY, compute)
    runner.run_all()
    refreshed = cache.get_or_compute(key, TODAY, compute)
    assert refreshed is not first
    assert title(refreshed) == "run 2"
