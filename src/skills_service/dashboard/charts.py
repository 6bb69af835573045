"""The dashboard's charts for a scope, and a short-lived cache of them.

The org-wide aggregates read every proficiency: at 2,000,000 of them that takes
seconds, while the answer changes slowly. So the finished charts are kept for
``SKILLS_DASHBOARD_CACHE_SECONDS`` under a key made of the filters and the day,
in Redis when it is configured (shared by every replica), else in the process.
The key never holds the user: who may see a team is decided before the cache is
read. A Redis failure costs a recomputation, never an error.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from skills_service.dashboard import figures
from skills_service.services import analytics, teams

log = logging.getLogger(__name__)

Charts = list[dict[str, Any]]
"""Plotly figures as JSON-ready dicts: four org charts, then two team charts if any."""

KEY_PREFIX = "skills:dashboard:v1:"
LOCAL_ENTRIES = 256


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
    category = (scope.category or "").casefold()
    return f"{KEY_PREFIX}{scope.today.isoformat()}:{scope.team_id or ''}:{category}"


class ChartCache:
    """Charts by key for ``ttl_seconds`` (0 turns caching off)."""

    def __init__(
        self,
        redis: Redis | None,
        ttl_seconds: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._ttl = ttl_seconds
        self._clock = clock
        self._local: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def get_or_compute(self, key: str, compute: Callable[[], Charts]) -> Charts:
        if self._ttl <= 0:
            return compute()
        cached = self._read(key)
        if cached is not None:
            charts: Charts = json.loads(cached)
            return charts
        charts = compute()
        self._write(key, json.dumps(charts))
        return charts

    def _read(self, key: str) -> str | None:
        if self._redis is not None:
            try:
                raw = self._redis.get(key)
            except RedisError:
                log.warning("dashboard cache unavailable; computing", exc_info=True)
                return None
            return raw.decode() if isinstance(raw, bytes) else None
        entry = self._local.get(key)
        if entry is None or entry[0] <= self._clock():
            self._local.pop(key, None)
            return None
        return entry[1]

    def _write(self, key: str, value: str) -> None:
        if self._redis is not None:
            try:
                self._redis.set(key, value, ex=self._ttl)
            except RedisError:
                log.warning("dashboard cache unavailable; not stored", exc_info=True)
            return
        self._local[key] = (self._clock() + self._ttl, value)
        self._local.move_to_end(key)
        while len(self._local) > LOCAL_ENTRIES:
            self._local.popitem(last=False)
