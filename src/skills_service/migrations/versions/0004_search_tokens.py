"""people search tokens

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 18:00:00

``person_search`` is people search's inverted index: one row per person, with a GIN
index over the tokens of the levels they hold. On PostgreSQL the upgrade fills it
from the people and proficiencies already there, in the transaction that creates
it. SQLite gets the table, empty: it searches by joining ``proficiency``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILL = """
INSERT INTO person_search (person_id, active, name_key, tokens, skills, grades, expiry_first)
SELECT person.id, person.active, person.name_key, derived.tokens, derived.skills,
       derived.grades, derived.expiry_first
FROM person CROSS JOIN LATERAL (
    SELECT coalesce(array_agg(held.skill_id::bigint * 8 + reached), '{}') AS tokens,
           coalesce(array_agg(held.skill_id ORDER BY held.skill_id)
                    FILTER (WHERE reached = 1), '{}') AS skills,
           coalesce(array_agg(
               coalesce(held.expires_on - DATE '0001-01-01' + 1, 0) * 128 + held.level * 16
               + CASE WHEN held.verified_at IS NOT NULL THEN 1 ELSE 0 END
               ORDER BY held.skill_id) FILTER (WHERE reached = 1), '{}') AS grades,
           min(held.expires_on) AS expiry_first
    FROM proficiency AS held, generate_series(1, held.level) AS reached
    WHERE held.person_id = person.id
) AS derived
WHERE EXISTS (SELECT FROM proficiency WHERE proficiency.person_id = person.id)
"""


def _array(element: sa.types.TypeEngine[int]) -> sa.types.TypeEngine[Any]:
    return postgresql.ARRAY(element).with_variant(sa.JSON(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "person_search",
        sa.Column("person_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("name_key", sa.String(length=128), nullable=False),
        sa.Column("tokens", _array(sa.BigInteger()), nullable=False),
        sa.Column("skills", _array(sa.Integer()), nullable=False),
        sa.Column("grades", _array(sa.Integer()), nullable=False),
        sa.Column("expiry_first", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_person_search_person_id_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_person_search")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FILL)
    op.create_index("ix_person_search_tokens", "person_search", ["tokens"], postgresql_using="gin")


def downgrade() -> None:
    op.drop_index("ix_person_search_tokens", table_name="person_search")
    op.drop_table("person_search")
