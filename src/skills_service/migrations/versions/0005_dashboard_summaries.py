"""dashboard summaries

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 18:00:00

The running totals behind the org-wide dashboard (``models/dashboard.py``), filled
from the proficiencies already stored: per skill and level, and per category, a
count from always and, for each certification expiry, the count that lapses after
that day.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ALWAYS = date.min
NEVER = date.max
COVERAGE_LEVEL = 3


def upgrade() -> None:
    skill_counts = op.create_table(
        "skill_level_count",
        sa.Column("skill_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("counts_after", sa.Date(), nullable=False),
        sa.Column("people", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "skill_id", "level", "counts_after", name=op.f("pk_skill_level_count")
        ),
    )
    op.create_index("ix_skill_level_count_counts_after", "skill_level_count", ["counts_after"])
    op.create_table(
        "skill_level_delta",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("skill_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("counts_after", sa.Date(), nullable=False),
        sa.Column("people", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_skill_level_delta")),
    )
    coverage_counts = op.create_table(
        "category_coverage_count",
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("counts_after", sa.Date(), nullable=False),
        sa.Column("people", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "category", "counts_after", name=op.f("pk_category_coverage_count")
        ),
    )
    op.create_index(
        "ix_category_coverage_count_counts_after", "category_coverage_count", ["counts_after"]
    )
    op.create_table(
        "category_coverage_delta",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("counts_after", sa.Date(), nullable=False),
        sa.Column("people", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_category_coverage_delta")),
    )
    _count_stored(skill_counts, coverage_counts)


def _count_stored(skill_counts: sa.Table, coverage_counts: sa.Table) -> None:
    person = sa.table("person", sa.column("id", sa.Integer()), sa.column("active", sa.Boolean()))
    skill = sa.table("skill", sa.column("id", sa.Integer()), sa.column("category", sa.String()))
    proficiency = sa.table(
        "proficiency",
        sa.column("person_id", sa.Integer()),
        sa.column("skill_id", sa.Integer()),
        sa.column("level", sa.Integer()),
        sa.column("expires_on", sa.Date()),
    )
    always = sa.literal(ALWAYS, sa.Date())
    held = proficiency.join(person, person.c.id == proficiency.c.person_id)
    by_level = (proficiency.c.skill_id, proficiency.c.level)
    op.execute(
        skill_counts.insert().from_select(
            ["skill_id", "level", "counts_after", "people"],
            sa.select(*by_level, always, sa.func.count())
            .select_from(held)
            .where(person.c.active.is_(True))
            .group_by(*by_level),
        )
    )
    op.execute(
        skill_counts.insert().from_select(
            ["skill_id", "level", "counts_after", "people"],
            sa.select(*by_level, proficiency.c.expires_on, -sa.func.count())
            .select_from(held)
            .where(person.c.active.is_(True), proficiency.c.expires_on.is_not(None))
            .group_by(*by_level, proficiency.c.expires_on),
        )
    )
    horizons = (
        sa.select(
            skill.c.category,
            sa.func.max(
                sa.func.coalesce(proficiency.c.expires_on, sa.literal(NEVER, sa.Date()))
            ).label("until"),
        )
        .select_from(held.join(skill, skill.c.id == proficiency.c.skill_id))
        .where(person.c.active.is_(True), proficiency.c.level >= COVERAGE_LEVEL)
        .group_by(proficiency.c.person_id, skill.c.category)
        .subquery()
    )
    op.execute(
        coverage_counts.insert().from_select(
            ["category", "counts_after", "people"],
            sa.select(horizons.c.category, always, sa.func.count()).group_by(horizons.c.category),
        )
    )
    op.execute(
        coverage_counts.insert().from_select(
            ["category", "counts_after", "people"],
            sa.select(horizons.c.category, horizons.c.until, -sa.func.count())
            .where(horizons.c.until != sa.literal(NEVER, sa.Date()))
            .group_by(horizons.c.category, horizons.c.until),
        )
    )


def downgrade() -> None:
    op.drop_table("category_coverage_delta")
    op.drop_index("ix_category_coverage_count_counts_after", table_name="category_coverage_count")
    op.drop_table("category_coverage_count")
    op.drop_table("skill_level_delta")
    op.drop_index("ix_skill_level_count_counts_after", table_name="skill_level_count")
    op.drop_table("skill_level_count")
