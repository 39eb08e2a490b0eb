"""Plugins pushed from a manifest: the manifest's stable key and its version.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("plugins", schema=None) as batch_op:
        batch_op.add_column(sa.Column("manifest_key", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("version", sa.String(length=100), nullable=True))
        batch_op.create_unique_constraint(
            "uq_plugins_org_manifest_key", ["organization_id", "manifest_key"]
        )


def downgrade() -> None:
    with op.batch_alter_table("plugins", schema=None) as batch_op:
        batch_op.drop_constraint("uq_plugins_org_manifest_key", type_="unique")
        batch_op.drop_column("version")
        batch_op.drop_column("manifest_key")
