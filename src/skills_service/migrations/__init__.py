"""Alembic migrations shipped inside the package, so an installed wheel can upgrade.

``skills-service db upgrade`` is a deploy step; the app never migrates on start-up.
Alembic is imported only by what migrates: a serving worker checks the schema
against ``HEAD`` without loading it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

SCRIPT_LOCATION = Path(__file__).parent
HEAD = "0006"
"""The newest revision in ``versions/``; a test holds it to the scripts' own head."""


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


def scripts_head() -> str | None:
    """The head revision as the migration scripts say it (Alembic reads them)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(SCRIPT_LOCATION)).get_current_head()


def is_at_head(connection: Connection) -> bool:
    """Whether the database's schema is at ``HEAD`` (``/readyz`` asks on every probe)."""
    if not inspect(connection).has_table("alembic_version"):
        return False
    revisions = connection.execute(text("SELECT version_num FROM alembic_version"))
    return revisions.scalars().all() == [HEAD]
