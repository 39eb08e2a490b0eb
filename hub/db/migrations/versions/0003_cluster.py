"""Several hub nodes on one PostgreSQL database: the dispatcher's lease, the nodes, the
commands other nodes send the dispatcher, the live plugin processes and the signing key they
share (hub/db/cluster_tables.py).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dispatcher_lease",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "hub_commands",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "hub_nodes",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("storage", sa.String(length=600), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "live_processes",
        sa.Column("connection_id", sa.String(length=32), nullable=False),
        sa.Column("plugin_id", sa.String(length=32), nullable=False),
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("sdk_version", sa.String(length=200), nullable=False),
        sa.Column("plugin_version", sa.String(length=200), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("running", sa.Integer(), nullable=False),
        sa.Column("connected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("connection_id"),
    )
    with op.batch_alter_table("live_processes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_live_processes_plugin_id"), ["plugin_id"], unique=False
        )

    op.create_table(
        "shared_keys",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("shared_keys")
    with op.batch_alter_table("live_processes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_live_processes_plugin_id"))

    op.drop_table("live_processes")
    op.drop_table("hub_nodes")
    op.drop_table("hub_commands")
    op.drop_table("dispatcher_lease")
