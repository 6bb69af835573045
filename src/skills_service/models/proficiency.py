"""A person's level in a skill, and the history of every change to it."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from skills_service.models.base import Base, utcnow

NOTE_MAX_LENGTH = 1000


class Proficiency(Base):
    __tablename__ = "proficiency"

    person_id: Mapped[int] = mapped_column(
        ForeignKey("person.id", ondelete="CASCADE"), primary_key=True
    )
    skill_id: Mapped[int] = mapped_column(ForeignKey("skill.id"), primary_key=True)
    level: Mapped[int]
    interested: Mapped[bool] = mapped_column(default=False)
    note: Mapped[str] = mapped_column(String(NOTE_MAX_LENGTH), default="")
    expires_on: Mapped[date | None] = mapped_column(default=None)
    verified_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"), default=None
    )
    verified_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    __table_args__ = (
        CheckConstraint("level BETWEEN 1 AND 5", name="level_range"),
        # Drives people search: one index-only range scan per `skill >= level`
        # condition. expires_on and verified_at ride along (as trailing key columns
        # rather than INCLUDE, so SQLite is covered too) so that the expiry filter
        # and the verified tiebreak never visit the table.
        Index(
            "ix_proficiency_search", "skill_id", "level", "person_id", "expires_on", "verified_at"
        ),
    )
    __mapper_args__ = {"version_id_col": version}


class ProficiencyChange(Base):
    """One entry in a proficiency's history; rows are only ever added."""

    __tablename__ = "proficiency_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    skill_id: Mapped[int] = mapped_column(ForeignKey("skill.id"))
    action: Mapped[str] = mapped_column(String(16))
    level: Mapped[int | None]
    interested: Mapped[bool | None]
    note: Mapped[str | None] = mapped_column(String(NOTE_MAX_LENGTH))
    expires_on: Mapped[date | None]
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_proficiency_change_person_skill", "person_id", "skill_id", "id"),
        Index("ix_proficiency_change_changed_at", "changed_at"),
    )
