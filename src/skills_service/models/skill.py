"""The skills catalogue."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from skills_service.models.base import Base, utcnow


class Skill(Base):
    __tablename__ = "skill"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    name_key: Mapped[str] = mapped_column(String(64), unique=True)
    category: Mapped[str] = mapped_column(String(64), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    deprecated: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    aliases: Mapped[list[SkillAlias]] = relationship(
        back_populates="skill",
        cascade="all, delete-orphan",
        order_by="SkillAlias.alias_key",
        lazy="selectin",
    )

    __mapper_args__ = {"version_id_col": version}


class SkillAlias(Base):
    """Another name a skill is known by; unique across names and aliases."""

    __tablename__ = "skill_alias"

    id: Mapped[int] = mapped_column(primary_key=True)
    skill_id: Mapped[int] = mapped_column(ForeignKey("skill.id", ondelete="CASCADE"), index=True)
    alias: Mapped[str] = mapped_column(String(64))
    alias_key: Mapped[str] = mapped_column(String(64), unique=True)

    skill: Mapped[Skill] = relationship(back_populates="aliases")
