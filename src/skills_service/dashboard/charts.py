"""The dashboard's charts for a scope, and a cache that keeps them answering fast.

The org-wide aggregates read every proficiency: at 2,000,000 of them that takes
seconds, while the answer changes slowly. So finished charts are cached by their
filters, in Redis when it is configured (shared by every replica), else in the
process, and served stale-while-revalidate: within ``SKILLS_DASHBOARD_CACHE_SECONDS``
of being computed (and on the same day, since expiry depends on the date) they are
fresh; after that they are still served, once, while one background refresh per
key, across replicas, recomputes them. Only a key never computed, or not asked for
in a day, is computed while the user waits. The key never holds the user: who may
see a team is decided before the cache is read. A Redis failure costs a
recomputation, never an error.

The cache bounds itself: keys are built only from a team and a category that
exist, and at most ``MAX_ENTRIES`` charts are kept (the least recently written go
first), in the process and in Redis alike. In Redis it belongs on an instance of its
own (``SKILLS_CACHE_REDIS_URL``), so that memory pressure can never evict sessions
or rate-limit counters.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import date
from typing import Any, cast

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from skills_service.caching import Bounded
from skills_service.dashboard import figures
from skills_service.services import analytics, teams

log = logging.getLogger(__name__)

Charts = list[dict[str, Any]]
"""Plotly figures as JSON-ready dicts: four org charts, then two team charts if any."""

KEY_PREFIX = "skills:dashboard:v3:"
INDEX_KEY = KEY_PREFIX + "index"
"""A sorted set of the cached keys by the time they were written, to bound them."""
MAX_ENTRIES = 256
"""Most charts kept at once (a scope's charts are some 30 KB)."""
PARSED_ENTRIES = 16
"""Most entries kept parsed in a process (some 300 KB each as Python objects)."""
KEEP_SECONDS = 24 * 3600
"""How long an entry nobody asks for survives past its freshness."""
REFRESH_LOCK_SECONDS = 120
"""Longest a background refresh may hold its key before another replica may try."""

Compute = Callable[[], "Charts"]
Runner = Callable[[Callable[[], None]], None]


def in_background(job: Callable[[], None]) -> None:
    threading.Thread(target=job, name="dashboard-refresh", daemon=True).start()


def chart_figures(session: Session, scope: analytics.Scope) -> Charts:
    levels = analytics.skill_levels(session, scope)
    built = [
        figures.levels_by_skill(levels),
        figures.top_skills(levels),
        figures.coverage(analytics.category_coverage(session, scope)),
        figures.trend(analytics.monthly_activity(session, scope)),
    ]
    if scope.team_id is not None:
        cells = analytics.team_heatmap(session, team_id=scope.team_id, today=scope.today)
        built.append(figures.heatmap(cells))
        built.append(figures.gaps(teams.gaps(session, team_id=scope.team_id, today=scope.today)))
    return [json.loads(figure.to_json()) for figure in built]


def cache_key(scope: analytics.Scope) -> str:
    """The scope's filters, which name a team and a category that exist."""
    return f"{KEY_PREFIX}{scope.team_id or ''}:{scope.category or ''}"


class ChartCache:
    """Charts by key: fresh for ``ttl_seconds``, then stale while refreshed (0: no cache)."""

    def __init__(
        self,
        redis: Redis | None,
        ttl_seconds: int,
        *,
        clock: Callable[[], float] = time.time,
        run: Runner = in_background,
    ) -> None:
        self._redis = redis
        self._ttl = ttl_seconds
        self._clock = clock
        self._run = run
        self._local: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._parsed: Bounded[str, tuple[str, dict[str, Any]]] = Bounded(PARSED_ENTRIES)
        self._refreshing: set[str] = set()
        self._lock = threading.Lock()

    def get_or_compute(self, key: str, day: date, compute: Compute) -> Charts:
        if self._ttl <= 0:
            return compute()
        raw = self._read(key)
        if raw is None:
            return self._store(key, day, compute())
        entry = self._parsed_entry(key, raw)
        stale = entry["day"] != day.isoformat() or self._clock() - entry["at"] >= self._ttl
        if stale:
            self._refresh(key, day, compute)
        charts: Charts = entry["charts"]
        return charts

    def _parsed_entry(self, key: str, raw: str) -> dict[str, Any]:
        """The entry ``raw`` holds, parsed once per process while it stays the same.

        Parsing some 30 KB of figures on every hit cost more than the rest of the
        callback; the parsed charts are shared by every hit, so nothing may change them.
        """
        known = self._parsed.get(key)
        if known is not None and known[0] == raw:
            return known[1]
        entry: dict[str, Any] = json.loads(raw)
        self._parsed.put(key, (raw, entry))
        return entry

    def _store(self, key: str, day: date, charts: Charts) -> Charts:
        entry = {"at": self._clock(), "day": day.isoformat(), "charts": charts}
        self._write(key, json.dumps(entry))
        return charts

    def _refresh(self, key: str, day: date, compute: Compute) -> None:
        """Recompute ``key`` off the request, unless it is being recomputed anywhere."""
        with self._lock:
            if key in self._refreshing or not self._claim(key):
                return
            self._refreshing.add(key)

        def job() -> None:
            try:
                self._store(key, day, compute())
            except Exception:
                log.exception("dashboard refresh failed; the cached charts stay")
            finally:
                with self._lock:
                    self._refreshing.discard(key)
                self._release(key)

        self._run(job)

    def _claim(self, key: str) -> bool:
        if self._redis is None:
            return True
        try:
            return bool(self._redis.set(key + ":refresh", "1", nx=True, ex=REFRESH_LOCK_SECONDS))
        except RedisError:
            log.warning("dashboard cache unavailable; not refreshing", exc_info=True)
            return False

    def _release(self, key: str) -> None:
        if self._redis is not None:
            try:
                self._redis.delete(key + ":refresh")
            except RedisError:
                log.warning("dashboard refresh lock not released; it expires", exc_info=True)

    def _read(self, key: str) -> str | None:
        if self._redis is not None:
            try:
                raw = self._redis.get(key)
            except RedisError:
                log.warning("dashboard cache unavailable; computing", exc_info=True)
                return None
            return raw.decode() if isinstance(raw, bytes) else None
        with self._lock:
            found = self._local.get(key)
            if found is None or found[0] <= self._clock():
                self._local.pop(key, None)
                return None
            return found[1]

    def _write(self, key: str, value: str) -> None:
        keep = self._ttl + KEEP_SECONDS
        if self._redis is not None:
            try:
                self._write_bounded(self._redis, key, value, keep)
            except RedisError:
                log.warning("dashboard cache unavailable; not stored", exc_info=True)
            return
        with self._lock:
            self._local[key] = (self._clock() + keep, value)
            self._local.move_to_end(key)
            while len(self._local) > MAX_ENTRIES:
                self._local.popitem(last=False)

    def _write_bounded(self, redis: Redis, key: str, value: str, keep: int) -> None:
        """Store ``key`` and index it; drop the oldest entries beyond ``MAX_ENTRIES``.

        Replicas writing at once may each drop a few, so the count can dip below the
        bound for a moment but never stays above it.
        """
        now = self._clock()
        with redis.pipeline() as pipeline:
            pipeline.set(key, value, ex=keep)
            pipeline.zadd(INDEX_KEY, {key: now})
            pipeline.zremrangebyscore(INDEX_KEY, "-inf", now - keep)
            pipeline.expire(INDEX_KEY, keep)
            pipeline.zcard(INDEX_KEY)
            count = int(pipeline.execute()[-1])
        if count > MAX_ENTRIES:
            oldest = cast(
                "list[tuple[bytes, float]]", redis.zpopmin(INDEX_KEY, count - MAX_ENTRIES)
            )
            redis.delete(*(member for member, _ in oldest))
