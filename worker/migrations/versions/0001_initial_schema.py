"""Initial schema: the tables as they were when migrations were introduced.

Revision ID: 0001
Revises: (none: today's schema)
Create Date: 2026-12-01 09:49:40.864272
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Databases made by create_all before migrations existed already hold some
    # of these tables: create only the missing ones, so upgrading adopts them.
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "worker_checkpoints" not in existing:
        op.create_table(
            "worker_checkpoints",
            sa.Column("seq", sa.Integer(), nullable=False),
            sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
            sa.Column("job_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
            sa.Column("created_at", sa.Integer(), nullable=False),
            sa.Column("step", sa.Integer(), nullable=False),
            sa.Column("path", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
            sa.Column("metrics_json", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
            sa.PrimaryKeyConstraint("seq"),
        )
        with op.batch_alter_table("worker_checkpoints", schema=None) as batch_op:
            batch_op.create_index(batch_op.f("ix_worker_checkpoints_id"), ["id"], unique=True)
            batch_op.create_index(
                batch_op.f("ix_worker_checkpoints_job_id"), ["job_id"], unique=False
            )
    if "worker_events" not in existing:
        op.create_table(
            "worker_events",
            sa.Column("seq", sa.Integer(), nullable=False),
            sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
            sa.Column("job_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
            sa.Column("created_at", sa.Integer(), nullable=False),
            sa.Column("level", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
            sa.Column("type", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
            sa.Column("message", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
            sa.Column("data_json", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
            sa.PrimaryKeyConstraint("seq"),
        )
        with op.batch_alter_table("worker_events", schema=None) as batch_op:
            batch_op.create_index(batch_op.f("ix_worker_events_id"), ["id"], unique=True)
            batch_op.create_index(batch_op.f("ix_worker_events_job_id"), ["job_id"], unique=False)
    if "worker_files" not in existing:
        op.create_table(
            "worker_files",
            sa.Column("seq", sa.Integer(), nullable=False),
            sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
            sa.Column("filename", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
            sa.Column("bytes", sa.Integer(), nullable=False),
            sa.Column("purpose", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
            sa.Column("created_at", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("seq"),
        )
        with op.batch_alter_table("worker_files", schema=None) as batch_op:
            batch_op.create_index(batch_op.f("ix_worker_files_id"), ["id"], unique=True)
    if "worker_jobs" not in existing:
        op.create_table(
            "worker_jobs",
            sa.Column("seq", sa.Integer(), nullable=False),
            sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
            sa.Column("model", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
            sa.Column("base_model", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
            sa.Column("training_file", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
            sa.Column("validation_file", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
            sa.Column("suffix", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
            sa.Column("seed", sa.Integer(), nullable=False),
            sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
            sa.Column("params_json", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
            sa.Column("metadata_json", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
            sa.Column("method_json", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
            sa.Column("created_at", sa.Integer(), nullable=False),
            sa.Column("started_at", sa.Integer(), nullable=True),
            sa.Column("finished_at", sa.Integer(), nullable=True),
            sa.Column("fine_tuned_model", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
            sa.Column("trained_tokens", sa.Integer(), nullable=True),
            sa.Column("estimated_finish", sa.Integer(), nullable=True),
            sa.Column("error_code", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
            sa.Column("error_message", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
            sa.Column("error_param", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
            sa.Column("result_file", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
            sa.Column("pid", sa.Integer(), nullable=True),
            sa.Column("progress_offset", sa.Integer(), nullable=False),
            sa.Column("cancel_requested", sa.Boolean(), nullable=False),
            sa.Column("attempts", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("seq"),
        )
        with op.batch_alter_table("worker_jobs", schema=None) as batch_op:
            batch_op.create_index(
                batch_op.f("ix_worker_jobs_fine_tuned_model"), ["fine_tuned_model"], unique=False
            )
            batch_op.create_index(batch_op.f("ix_worker_jobs_id"), ["id"], unique=True)
            batch_op.create_index(batch_op.f("ix_worker_jobs_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("worker_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_worker_jobs_status"))
        batch_op.drop_index(batch_op.f("ix_worker_jobs_id"))
        batch_op.drop_index(batch_op.f("ix_worker_jobs_fine_tuned_model"))

    op.drop_table("worker_jobs")
    with op.batch_alter_table("worker_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_worker_files_id"))

    op.drop_table("worker_files")
    with op.batch_alter_table("worker_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_worker_events_job_id"))
        batch_op.drop_index(batch_op.f("ix_worker_events_id"))

    op.drop_table("worker_events")
    with op.batch_alter_table("worker_checkpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_worker_checkpoints_job_id"))
        batch_op.drop_index(batch_op.f("ix_worker_checkpoints_id"))

    op.drop_table("worker_checkpoints")
