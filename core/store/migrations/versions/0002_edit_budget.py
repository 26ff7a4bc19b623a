"""The chat.update budget in SQL, so replicas share one workspace budget (#13).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 10:49:51.860009
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
    # A database made by create_all (tests, installs from before migrations)
    # may hold these tables already: create only what is missing, as 0001 does.
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "edit_budget" not in existing:
        op.create_table(
            "edit_budget",
            sa.Column("workspace", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
            sa.Column("paused_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
            sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
            sa.PrimaryKeyConstraint("workspace"),
        )
    if "edit_spend" not in existing:
        op.create_table(
            "edit_spend",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("workspace", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
            sa.Column("spent_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        with op.batch_alter_table("edit_spend", schema=None) as batch_op:
            batch_op.create_index(batch_op.f("ix_edit_spend_spent_at"), ["spent_at"], unique=False)
            batch_op.create_index(
                batch_op.f("ix_edit_spend_workspace"), ["workspace"], unique=False
            )


def downgrade() -> None:
    with op.batch_alter_table("edit_spend", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_edit_spend_workspace"))
        batch_op.drop_index(batch_op.f("ix_edit_spend_spent_at"))

    op.drop_table("edit_spend")
    op.drop_table("edit_budget")
