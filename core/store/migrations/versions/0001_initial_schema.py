"""Initial schema: the tables as they were when migrations were introduced.

Revision ID: 0001
Revises: (none: today's schema)
Create Date: 2026-12-01 09:49:40.820395
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
    if "dataset" not in existing:
        op.create_table(
            "dataset",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("short_id", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
            sa.Column("slack_file_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
            sa.Column("team_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
            sa.Column("channel_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
            sa.Column("thread_ts", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
            sa.Column("uploader_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
            sa.Column("file_name", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
            sa.Column("size_bytes", sa.Integer(), nullable=False),
            sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column("verdict", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
            sa.Column("format", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
            sa.Column("examples", sa.Integer(), nullable=False),
            sa.Column("model", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
            sa.Column("trained_tokens", sa.Integer(), nullable=False),
            sa.Column("report_json", sa.Text(), nullable=False),
            sa.Column(
                "training_path", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=True
            ),
            sa.Column(
                "validation_path", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=True
            ),
            sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        with op.batch_alter_table("dataset", schema=None) as batch_op:
            batch_op.create_index(batch_op.f("ix_dataset_channel_id"), ["channel_id"], unique=False)
            batch_op.create_index(batch_op.f("ix_dataset_sha256"), ["sha256"], unique=False)
            batch_op.create_index(batch_op.f("ix_dataset_short_id"), ["short_id"], unique=True)
            batch_op.create_index(
                batch_op.f("ix_dataset_slack_file_id"), ["slack_file_id"], unique=False
            )
            batch_op.create_index(
                batch_op.f("ix_dataset_uploader_id"), ["uploader_id"], unique=False
            )
    if "processed_event" not in existing:
        op.create_table(
            "processed_event",
            sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column("received_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
            sa.PrimaryKeyConstraint("event_id"),
        )
    if "training_job" not in existing:
        op.create_table(
            "training_job",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("short_id", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
            sa.Column("request_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
            sa.Column("active_key", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
            sa.Column("dataset_id", sa.Integer(), nullable=True),
            sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
            sa.Column(
                "provider_job_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True
            ),
            sa.Column(
                "training_file_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True
            ),
            sa.Column(
                "validation_file_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True
            ),
            sa.Column("base_model", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
            sa.Column(
                "fine_tuned_model", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True
            ),
            sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
            sa.Column("options_json", sa.Text(), nullable=False),
            sa.Column("error_json", sa.Text(), nullable=True),
            sa.Column("team_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
            sa.Column("channel_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
            sa.Column("thread_ts", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
            sa.Column("progress_ts", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
            sa.Column("started_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
            sa.Column("cancelled_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
            sa.Column("estimated_cost_usd", sa.Float(), nullable=True),
            sa.Column("trained_tokens", sa.Integer(), nullable=True),
            sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
            sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
            sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
            sa.ForeignKeyConstraint(
                ["dataset_id"],
                ["dataset.id"],
            ),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("active_key"),
            sa.UniqueConstraint("request_id"),
        )
        with op.batch_alter_table("training_job", schema=None) as batch_op:
            batch_op.create_index(
                batch_op.f("ix_training_job_channel_id"), ["channel_id"], unique=False
            )
            batch_op.create_index(
                batch_op.f("ix_training_job_dataset_id"), ["dataset_id"], unique=False
            )
            batch_op.create_index(
                batch_op.f("ix_training_job_provider_job_id"), ["provider_job_id"], unique=False
            )
            batch_op.create_index(batch_op.f("ix_training_job_short_id"), ["short_id"], unique=True)
            batch_op.create_index(
                batch_op.f("ix_training_job_started_by"), ["started_by"], unique=False
            )
            batch_op.create_index(batch_op.f("ix_training_job_status"), ["status"], unique=False)
    if "ab_session" not in existing:
        op.create_table(
            "ab_session",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("short_id", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
            sa.Column("request_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
            sa.Column("job_id", sa.Integer(), nullable=True),
            sa.Column("channel_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
            sa.Column("thread_ts", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
            sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
            sa.Column(
                "candidate_provider", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False
            ),
            sa.Column(
                "candidate_model", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False
            ),
            sa.Column(
                "baseline_provider", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False
            ),
            sa.Column(
                "baseline_model", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False
            ),
            sa.Column(
                "candidate_label", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False
            ),
            sa.Column(
                "baseline_label", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False
            ),
            sa.Column("few_shot_prompt", sa.Text(), nullable=True),
            sa.Column("temperature", sa.Float(), nullable=False),
            sa.Column("max_tokens", sa.Integer(), nullable=False),
            sa.Column("seed", sa.Integer(), nullable=True),
            sa.Column("min_decisive", sa.Integer(), nullable=False),
            sa.Column("alpha", sa.Float(), nullable=False),
            sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
            sa.Column("scoreboard_edited_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
            sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
            sa.ForeignKeyConstraint(
                ["job_id"],
                ["training_job.id"],
            ),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("channel_id", "thread_ts"),
            sa.UniqueConstraint("request_id"),
        )
        with op.batch_alter_table("ab_session", schema=None) as batch_op:
            batch_op.create_index(
                batch_op.f("ix_ab_session_channel_id"), ["channel_id"], unique=False
            )
            batch_op.create_index(batch_op.f("ix_ab_session_job_id"), ["job_id"], unique=False)
            batch_op.create_index(batch_op.f("ix_ab_session_short_id"), ["short_id"], unique=True)
    if "heldout_run" not in existing:
        op.create_table(
            "heldout_run",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("job_id", sa.Integer(), nullable=False),
            sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
            sa.Column("report_json", sa.Text(), nullable=True),
            sa.Column("posting_since", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
            sa.Column("data_path", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=False),
            sa.Column("judge_model", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
            sa.Column("summary_json", sa.Text(), nullable=True),
            sa.Column("error", sa.Text(), nullable=True),
            sa.Column("posted_ts", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
            sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
            sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
            sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
            sa.ForeignKeyConstraint(
                ["job_id"],
                ["training_job.id"],
            ),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("job_id"),
        )
        with op.batch_alter_table("heldout_run", schema=None) as batch_op:
            batch_op.create_index(batch_op.f("ix_heldout_run_status"), ["status"], unique=False)
    if "job_message" not in existing:
        op.create_table(
            "job_message",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("job_id", sa.Integer(), nullable=False),
            sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
            sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
            sa.Column("ts", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
            sa.Column("intent_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
            sa.Column("posted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
            sa.ForeignKeyConstraint(
                ["job_id"],
                ["training_job.id"],
            ),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("job_id", "key", name="uq_job_message_job_key"),
        )
        with op.batch_alter_table("job_message", schema=None) as batch_op:
            batch_op.create_index(batch_op.f("ix_job_message_job_id"), ["job_id"], unique=False)
    if "job_poll_state" not in existing:
        op.create_table(
            "job_poll_state",
            sa.Column("job_id", sa.Integer(), nullable=False),
            sa.Column("last_event_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
            sa.Column("job_json", sa.Text(), nullable=True),
            sa.Column(
                "provider_status", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True
            ),
            sa.Column("queue_position", sa.Integer(), nullable=True),
            sa.Column("running_since", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
            sa.Column("last_polled_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
            sa.Column("next_poll_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
            sa.Column("failures", sa.Integer(), nullable=False),
            sa.Column("last_failure", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
            sa.Column("provider_last_ok_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
            sa.Column("last_edit_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
            sa.Column("rendered_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
            sa.Column("home_status", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
            sa.Column("claim_owner", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
            sa.Column("claim_expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
            sa.Column("finalized", sa.Boolean(), nullable=False),
            sa.ForeignKeyConstraint(
                ["job_id"],
                ["training_job.id"],
            ),
            sa.PrimaryKeyConstraint("job_id"),
        )
        with op.batch_alter_table("job_poll_state", schema=None) as batch_op:
            batch_op.create_index(
                batch_op.f("ix_job_poll_state_finalized"), ["finalized"], unique=False
            )
            batch_op.create_index(
                batch_op.f("ix_job_poll_state_next_poll_at"), ["next_poll_at"], unique=False
            )
    if "metric_point" not in existing:
        op.create_table(
            "metric_point",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("job_id", sa.Integer(), nullable=False),
            sa.Column("step", sa.Integer(), nullable=False),
            sa.Column("total_steps", sa.Integer(), nullable=True),
            sa.Column("epoch", sa.Float(), nullable=True),
            sa.Column("train_loss", sa.Float(), nullable=True),
            sa.Column("valid_loss", sa.Float(), nullable=True),
            sa.Column("tokens_per_second", sa.Float(), nullable=True),
            sa.Column("reported_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
            sa.ForeignKeyConstraint(
                ["job_id"],
                ["training_job.id"],
            ),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("job_id", "step", name="uq_metric_point_job_step"),
        )
        with op.batch_alter_table("metric_point", schema=None) as batch_op:
            batch_op.create_index(batch_op.f("ix_metric_point_job_id"), ["job_id"], unique=False)
    if "ab_prompt" not in existing:
        op.create_table(
            "ab_prompt",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("session_id", sa.Integer(), nullable=False),
            sa.Column("slack_ts", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
            sa.Column("author_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
            sa.Column("text", sa.Text(), nullable=False),
            sa.Column("opponent", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
            sa.Column(
                "candidate_position", sqlmodel.sql.sqltypes.AutoString(length=1), nullable=False
            ),
            sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
            sa.Column("message_ts", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
            sa.Column("claimed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
            sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
            sa.ForeignKeyConstraint(
                ["session_id"],
                ["ab_session.id"],
            ),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("session_id", "slack_ts"),
        )
        with op.batch_alter_table("ab_prompt", schema=None) as batch_op:
            batch_op.create_index(
                batch_op.f("ix_ab_prompt_session_id"), ["session_id"], unique=False
            )
    if "heldout_item" not in existing:
        op.create_table(
            "heldout_item",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("run_id", sa.Integer(), nullable=False),
            sa.Column("index", sa.Integer(), nullable=False),
            sa.Column("prompt_json", sa.Text(), nullable=False),
            sa.Column("reference", sa.Text(), nullable=False),
            sa.Column("candidate_text", sa.Text(), nullable=True),
            sa.Column("baseline_text", sa.Text(), nullable=True),
            sa.Column("candidate_error", sa.Text(), nullable=True),
            sa.Column("baseline_error", sa.Text(), nullable=True),
            sa.Column("candidate_f1", sa.Float(), nullable=True),
            sa.Column("baseline_f1", sa.Float(), nullable=True),
            sa.Column("candidate_exact", sa.Boolean(), nullable=True),
            sa.Column("baseline_exact", sa.Boolean(), nullable=True),
            sa.Column("judge_outcome", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
            sa.ForeignKeyConstraint(
                ["run_id"],
                ["heldout_run.id"],
            ),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("run_id", "index"),
        )
        with op.batch_alter_table("heldout_item", schema=None) as batch_op:
            batch_op.create_index(batch_op.f("ix_heldout_item_run_id"), ["run_id"], unique=False)
    if "ab_response" not in existing:
        op.create_table(
            "ab_response",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("prompt_id", sa.Integer(), nullable=False),
            sa.Column("arm", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
            sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
            sa.Column("model", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
            sa.Column("position", sqlmodel.sql.sqltypes.AutoString(length=1), nullable=False),
            sa.Column("text", sa.Text(), nullable=True),
            sa.Column("error", sa.Text(), nullable=True),
            sa.Column("latency_s", sa.Float(), nullable=True),
            sa.Column("prompt_tokens", sa.Integer(), nullable=True),
            sa.Column("completion_tokens", sa.Integer(), nullable=True),
            sa.ForeignKeyConstraint(
                ["prompt_id"],
                ["ab_prompt.id"],
            ),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("prompt_id", "arm"),
        )
        with op.batch_alter_table("ab_response", schema=None) as batch_op:
            batch_op.create_index(
                batch_op.f("ix_ab_response_prompt_id"), ["prompt_id"], unique=False
            )
    if "ab_vote" not in existing:
        op.create_table(
            "ab_vote",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("prompt_id", sa.Integer(), nullable=False),
            sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
            sa.Column("choice", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
            sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
            sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
            sa.ForeignKeyConstraint(
                ["prompt_id"],
                ["ab_prompt.id"],
            ),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("prompt_id", "user_id"),
        )
        with op.batch_alter_table("ab_vote", schema=None) as batch_op:
            batch_op.create_index(batch_op.f("ix_ab_vote_prompt_id"), ["prompt_id"], unique=False)
    if "judge_verdict" not in existing:
        op.create_table(
            "judge_verdict",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("item_id", sa.Integer(), nullable=False),
            sa.Column("judge_model", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
            sa.Column(
                "candidate_position", sqlmodel.sql.sqltypes.AutoString(length=1), nullable=False
            ),
            sa.Column("choice", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
            sa.Column("raw", sa.Text(), nullable=True),
            sa.ForeignKeyConstraint(
                ["item_id"],
                ["heldout_item.id"],
            ),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("item_id", "candidate_position"),
        )
        with op.batch_alter_table("judge_verdict", schema=None) as batch_op:
            batch_op.create_index(batch_op.f("ix_judge_verdict_item_id"), ["item_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("judge_verdict", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_judge_verdict_item_id"))

    op.drop_table("judge_verdict")
    with op.batch_alter_table("ab_vote", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ab_vote_prompt_id"))

    op.drop_table("ab_vote")
    with op.batch_alter_table("ab_response", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ab_response_prompt_id"))

    op.drop_table("ab_response")
    with op.batch_alter_table("heldout_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_heldout_item_run_id"))

    op.drop_table("heldout_item")
    with op.batch_alter_table("ab_prompt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ab_prompt_session_id"))

    op.drop_table("ab_prompt")
    with op.batch_alter_table("metric_point", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_metric_point_job_id"))

    op.drop_table("metric_point")
    with op.batch_alter_table("job_poll_state", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_poll_state_next_poll_at"))
        batch_op.drop_index(batch_op.f("ix_job_poll_state_finalized"))

    op.drop_table("job_poll_state")
    with op.batch_alter_table("job_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_message_job_id"))

    op.drop_table("job_message")
    with op.batch_alter_table("heldout_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_heldout_run_status"))

    op.drop_table("heldout_run")
    with op.batch_alter_table("ab_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ab_session_short_id"))
        batch_op.drop_index(batch_op.f("ix_ab_session_job_id"))
        batch_op.drop_index(batch_op.f("ix_ab_session_channel_id"))

    op.drop_table("ab_session")
    with op.batch_alter_table("training_job", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_training_job_status"))
        batch_op.drop_index(batch_op.f("ix_training_job_started_by"))
        batch_op.drop_index(batch_op.f("ix_training_job_short_id"))
        batch_op.drop_index(batch_op.f("ix_training_job_provider_job_id"))
        batch_op.drop_index(batch_op.f("ix_training_job_dataset_id"))
        batch_op.drop_index(batch_op.f("ix_training_job_channel_id"))

    op.drop_table("training_job")
    op.drop_table("processed_event")
    with op.batch_alter_table("dataset", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dataset_uploader_id"))
        batch_op.drop_index(batch_op.f("ix_dataset_slack_file_id"))
        batch_op.drop_index(batch_op.f("ix_dataset_short_id"))
        batch_op.drop_index(batch_op.f("ix_dataset_sha256"))
        batch_op.drop_index(batch_op.f("ix_dataset_channel_id"))

    op.drop_table("dataset")
