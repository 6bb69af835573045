"""What people search reads on PostgreSQL: one row per person, derived from their proficiencies."""

from __future__ import annotations

from datetime import date

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from skills_service.models.base import Base


class PersonSearch(Base):
    """A person's proficiencies as search tokens, kept by ``services.search_index``.

    ``tokens`` holds ``skill_id * 8 + level`` for every level from 1 up to each held
    level, so that ``skill >= level`` is one token and a search is one GIN lookup of
    all its tokens. ``skills`` and ``grades`` are aligned: a grade packs what the
    order and the expiry need (``expiry day * 128 + level * 16 + verified``, the day
    a ``date.toordinal()`` or 0 when the proficiency does not expire). ``active`` and
    ``name_key`` are copies of the person's, so that a search never joins ``person``
    before its page is chosen. ``expiry_first`` is the earliest expiry among the
    person's proficiencies: on any day up to it, none of them has expired.

    The rows are only filled on PostgreSQL; SQLite has the table, empty, and searches
    by joining ``proficiency`` instead.
    """

    __tablename__ = "person_search"

    person_id: Mapped[int] = mapped_column(
        ForeignKey("person.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    active: Mapped[bool]
    name_key: Mapped[str] = mapped_column(String(128))
    tokens: Mapped[list[int]] = mapped_column(ARRAY(BigInteger).with_variant(JSON(), "sqlite"))
    skills: Mapped[list[int]] = mapped_column(ARRAY(Integer).with_variant(JSON(), "sqlite"))
    grades: Mapped[list[int]] = mapped_column(ARRAY(Integer).with_variant(JSON(), "sqlite"))
    expiry_first: Mapped[date | None]

    __table_args__ = (Index("ix_person_search_tokens", "tokens", postgresql_using="gin"),)
