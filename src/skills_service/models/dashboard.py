"""Running totals behind the dashboard's org-wide charts, kept by ``services/summaries``.

Each total is a sum of signed counts keyed by ``counts_after``: a row counts on every
day strictly after that date. A proficiency adds one to its skill and level from
always (``ALWAYS``) and, if its certification expires, takes one away after the day
it expires; so an expired certification stops counting with no sweep. Writers only
ever insert into the ``*_delta`` logs (no row that every writer updates); folding
moves the logs into the ``*_count`` tables, whose rows only the fold changes.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from skills_service.models.base import Base

ALWAYS = date.min
"""``counts_after`` of a count that holds on every day."""


class SkillLevelCount(Base):
    """Active people holding a skill at a level, folded from ``SkillLevelDelta``."""

    __tablename__ = "skill_level_count"

    skill_id: Mapped[int] = mapped_column(primary_key=True)
    level: Mapped[int] = mapped_column(primary_key=True)
    counts_after: Mapped[date] = mapped_column(primary_key=True)
    people: Mapped[int]

    # Reads take the rows that count by today; future lapses are many, and skipped.
    __table_args__ = (Index("ix_skill_level_count_counts_after", "counts_after"),)


class SkillLevelDelta(Base):
    """A change to ``SkillLevelCount`` not folded yet; rows are only added and folded."""

    __tablename__ = "skill_level_delta"

    id: Mapped[int] = mapped_column(primary_key=True)
    skill_id: Mapped[int]
    level: Mapped[int]
    counts_after: Mapped[date]
    people: Mapped[int]


class CategoryCoverageCount(Base):
    """Active people with a skill of the category at the coverage level or above."""

    __tablename__ = "category_coverage_count"

    category: Mapped[str] = mapped_column(String(64), primary_key=True)
    counts_after: Mapped[date] = mapped_column(primary_key=True)
    people: Mapped[int]

    __table_args__ = (Index("ix_category_coverage_count_counts_after", "counts_after"),)


class CategoryCoverageDelta(Base):
    """A change to ``CategoryCoverageCount`` not folded yet."""

    __tablename__ = "category_coverage_delta"

    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[str] = mapped_column(String(64))
    counts_after: Mapped[date]
    people: Mapped[int]
