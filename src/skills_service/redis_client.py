"""The shared Redis connections: ``SKILLS_REDIS_URL`` for sessions and rate limits,
``SKILLS_CACHE_REDIS_URL`` for the chart cache.

They are separate because Redis evicts per instance: a cache filling its memory
must never push sessions or rate-limit counters out. Without a cache URL the charts
are cached in each process instead.
"""

from __future__ import annotations

from flask import Flask
from redis import Redis

EXTENSION_KEY = "skills_service.redis"
CACHE_EXTENSION_KEY = "skills_service.cache_redis"


def _connect(url: str) -> Redis:
    return Redis.from_url(
        url, socket_timeout=1.0, socket_connect_timeout=1.0, health_check_interval=30
    )


def init_app(app: Flask, url: str | None, *, cache_url: str | None = None) -> None:
    if url is not None:
        app.extensions[EXTENSION_KEY] = _connect(url)
    if cache_url is not None:
        app.extensions[CACHE_EXTENSION_KEY] = _connect(cache_url)
