"""Versions of cached data, bumped in the transaction that changes the data."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from skills_service.models.base import Base


class DataVersion(Base):
    """One version per kind of cached data and subject: ``("catalogue", 0)``,
    ``("principals", 0)``, ``("person", person_id)``. A missing row is version 0."""

    __tablename__ = "data_version"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    subject_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    version: Mapped[int]
