"""Alembic migrations shipped inside the package, so an installed wheel can upgrade.

``skills-service db upgrade`` is a deploy step; the app never migrates on start-up.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

SCRIPT_LOCATION = Path(__file__).parent


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


@cache
def head_revision() -> str | None:
    """The newest revision shipped in the package: read once, since it cannot change while
    the process runs (``/readyz`` asks on every probe)."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    return ScriptDirectory.from_config(config).get_current_head()


def is_at_head(connection: Connection) -> bool:
    current = MigrationContext.configure(connection).get_current_revision()
    return current is not None and current == head_revision()
