"""The migrations build exactly the schema the models describe, on every backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from flask import Flask
from sqlalchemy import create_engine, text

from skills_service import migrations
from skills_service.extensions import db
from skills_service.models import Base


def test_migrations_match_the_models(app: Flask) -> None:
    with db.engine(app).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_the_database_is_at_the_head_revision(app: Flask) -> None:
    with db.engine(app).connect() as connection:
        assert migrations.is_at_head(connection)


def test_upgrading_again_is_a_no_op(app: Flask) -> None:
    migrations.upgrade(db.engine(app))
    with db.engine(app).connect() as connection:
        assert migrations.is_at_head(connection)


def test_the_head_the_probe_checks_is_the_head_of_the_scripts() -> None:
    assert migrations.scripts_head() == migrations.HEAD


def test_a_database_behind_the_head_or_never_migrated_is_not_at_head(app: Flask) -> None:
    with db.engine(app).connect() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0005'"))
        assert not migrations.is_at_head(connection)
        connection.rollback()
    with create_engine("sqlite://").connect() as empty:
        assert not migrations.is_at_head(empty)
