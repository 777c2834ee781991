"""the human side: agents with presence and their queues (a row per agent and queue), agent
feedback, turn sentiment, transfer mode and agent leg, and after the agent's part the caller's
survey answer and the confirmation text's SID

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 14:05:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("idle_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("current_call_sid", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("agents") as batch_op:
        batch_op.create_index(batch_op.f("ix_agents_target"), ["target"], unique=True)
        batch_op.create_index(batch_op.f("ix_agents_current_call_sid"), ["current_call_sid"])
        batch_op.create_index("ix_agents_status_idle_since", ["status", "idle_since"])
    op.create_table(
        "agent_queues",
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("agent_id", "queue"),
    )
    with op.batch_alter_table("agent_queues") as batch_op:
        batch_op.create_index(batch_op.f("ix_agent_queues_queue"), ["queue"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("transfer_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("intent_correct", sa.Boolean(), nullable=True),
        sa.Column("summary_correct", sa.Boolean(), nullable=True),
        sa.Column("corrected_intent", sa.String(length=64), nullable=True),
        sa.Column("correction", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["transfer_id"], ["transfers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("feedback") as batch_op:
        batch_op.create_index(batch_op.f("ix_feedback_transfer_id"), ["transfer_id"])
    with op.batch_alter_table("turns") as batch_op:
        batch_op.add_column(sa.Column("sentiment", sa.Float(), nullable=True))
    with op.batch_alter_table("transfers") as batch_op:
        batch_op.add_column(sa.Column("mode", sa.String(length=16), nullable=False,
                                      server_default="dial"))
        batch_op.add_column(sa.Column("agent_call_sid", sa.String(length=64), nullable=True))
    with op.batch_alter_table("calls") as batch_op:
        batch_op.add_column(sa.Column("survey_score", sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column("survey_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("confirmation_sms_sid", sa.String(length=64),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch_op:
        batch_op.drop_column("confirmation_sms_sid")
        batch_op.drop_column("survey_at")
        batch_op.drop_column("survey_score")
    with op.batch_alter_table("transfers") as batch_op:
        batch_op.drop_column("agent_call_sid")
        batch_op.drop_column("mode")
    with op.batch_alter_table("turns") as batch_op:
        batch_op.drop_column("sentiment")
    op.drop_table("feedback")
    op.drop_table("agent_queues")
    op.drop_table("agents")
