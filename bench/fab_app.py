"""The second reference of the HTTP benchmark: the API a Flask developer would otherwise build.

Flask-AppBuilder's ``ModelRestApi`` over the benchmark's ``skill`` table, behind its own
security: database accounts, and a JWT from ``POST /api/v1/security/login`` as the
bearer token of every request. The list answers 50 skills a page, ordered by name, as
skills-service's ``GET /api/v1/skills?limit=50`` does; ``GET /api/v1/skill/<id>`` is a
single item.

It runs in a virtualenv of its own (``make bench-packages`` creates
``bench/.venv-fab`` from ``requirements/fab.txt``), so Flask-AppBuilder's pins never meet
the service's. Configured from the environment by ``http_load.py``:

- ``BENCH_FAB_DATABASE_URL``: the benchmark's database, its ``skills_bench`` schema first
  on the search path (Flask-AppBuilder's own ``ab_*`` tables are created there too);
- ``BENCH_FAB_SECRET_KEY``: signs the JWTs;
- ``FAB_UPDATE_PERMS`` (``false`` under gunicorn): the permissions are written once, by
  ``flask fab create-admin`` before the workers start, not by each worker.
"""

from __future__ import annotations

import os

from flask import Flask
from flask_appbuilder import AppBuilder, Model
from flask_appbuilder.api import ModelRestApi
from flask_appbuilder.const import AUTH_DB
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.utils.legacy import get_sqla_class
from sqlalchemy import Boolean, Column, Integer, String, Text

PAGE_SIZE = 50


class Skill(Model):
    """The columns of skills-service's ``skill`` that its API answers."""

    __tablename__ = "skill"
    id = Column(Integer, primary_key=True)
    name = Column(String(64), nullable=False)
    category = Column(String(64), nullable=False)
    description = Column(Text, nullable=False)
    deprecated = Column(Boolean, nullable=False)


class SkillApi(ModelRestApi):
    resource_name = "skill"
    datamodel = SQLAInterface(Skill)
    list_columns = show_columns = ["id", "name", "category", "description", "deprecated"]
    page_size = PAGE_SIZE
    base_order = ("name", "asc")


def create_app() -> Flask:
    app = Flask(__name__)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=os.environ["BENCH_FAB_DATABASE_URL"],
        SECRET_KEY=os.environ["BENCH_FAB_SECRET_KEY"],
        AUTH_TYPE=AUTH_DB,
        FAB_ADD_SECURITY_API=True,
        FAB_UPDATE_PERMS=os.environ.get("FAB_UPDATE_PERMS", "true") == "true",
    )
    database = get_sqla_class()(app)
    with app.app_context():
        builder = AppBuilder(app, database.session)
        builder.add_api(SkillApi)
    return app


app = create_app()
