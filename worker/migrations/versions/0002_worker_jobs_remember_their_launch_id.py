"""Worker jobs remember their launch id: the launcher's handle of the current
attempt (a pid, or a Ray submission id), so a restarted worker re-attaches to a
running Ray job instead of submitting it again.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 11:03:41.273406
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A store from the ray branch before migrations already has the column (its
    # ad-hoc ALTER TABLE); adopt it as 0001 adopts existing tables.
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("worker_jobs")}
    if "launch_id" in columns:
        return
    with op.batch_alter_table("worker_jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("launch_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("worker_jobs", schema=None) as batch_op:
        batch_op.drop_column("launch_id")
