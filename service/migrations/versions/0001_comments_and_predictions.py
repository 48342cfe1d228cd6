"""Comments and their predictions.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "comments",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("metadata", Json, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_comments"),
        sa.UniqueConstraint(
            "provider", "idempotency_key", name="uq_comments_provider_idempotency_key"
        ),
    )
    op.create_index("ix_comments_received_at", "comments", ["received_at"])
    op.create_table(
        "predictions",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("comment_id", Id, nullable=False),
        sa.Column("label", sa.String(32), nullable=False),
        sa.Column("scores", Json, nullable=False),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_predictions"),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name="fk_predictions_comment_id_comments",
            ondelete="CASCADE",
        ),
        # Also the index behind "latest prediction of a comment" and "pending for a version".
        sa.UniqueConstraint(
            "comment_id", "model_version", name="uq_predictions_comment_id_model_version"
        ),
    )


def downgrade() -> None:
    op.drop_table("predictions")
    op.drop_index("ix_comments_received_at", table_name="comments")
    op.drop_table("comments")
