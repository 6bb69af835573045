"""data versions

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 18:30:00

The versions of cached data (the catalogue, every person's principal), bumped in
the transaction that changes the data; see ``skills_service.caching``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "data_version",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "subject_id", name=op.f("pk_data_version")),
    )


def downgrade() -> None:
    op.drop_table("data_version")
