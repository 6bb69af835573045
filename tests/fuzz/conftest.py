"""What every fuzzing run shares: the production backend and budgets no run exhausts."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from skills_service.settings import Settings
from tests.conftest import POSTGRES_URL, MakeApp, changed, fresh_postgresql, fresh_sqlite


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """PostgreSQL, the production backend, when configured (CI always has it)."""
    if POSTGRES_URL:
        return fresh_postgresql(request)
    return fresh_sqlite(request, tmp_path)


@pytest.fixture
def fuzzed_app(make_app: MakeApp, settings: Settings) -> Flask:
    """The app with budgets no fuzzing run exhausts: limits have tests of their own."""
    return make_app(
        changed(
            settings,
            ratelimit_default="100000/minute",
            ratelimit_per_address="100000/minute",
            ratelimit_sensitive="100000/minute",
            login_rate_limit="100000/minute",
        )
    )
