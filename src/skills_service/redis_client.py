"""The shared Redis connection, when ``SKILLS_REDIS_URL`` is configured."""

from __future__ import annotations

from flask import Flask
from redis import Redis

EXTENSION_KEY = "skills_service.redis"


def init_app(app: Flask, url: str | None) -> None:
    if url is not None:
        app.extensions[EXTENSION_KEY] = Redis.from_url(
            url, socket_timeout=1.0, socket_connect_timeout=1.0, health_check_interval=30
        )
