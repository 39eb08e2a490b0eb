"""The dashboard: sessions, config presets, plugin installs, version pins.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A database made by create_all while the dashboard was built, before this revision
    # existed, has some of this already: add only what is missing.
    present = sa.inspect(op.get_bind())
    tables = set(present.get_table_names())

    def lacks_column(table: str, column: str) -> bool:
        return column not in {c["name"] for c in present.get_columns(table)}

    if "config_presets" not in tables:
        op.create_table(
            "config_presets",
            sa.Column("id", sa.String(length=32), nullable=False),
            sa.Column("organization_id", sa.String(length=32), nullable=False),
            sa.Column("plugin_id", sa.String(length=32), nullable=False),
            sa.Column("name", sa.String(length=200), nullable=False),
            sa.Column("config", sa.JSON(), nullable=False),
            sa.Column("created_by", sa.String(length=32), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(["plugin_id"], ["plugins.id"], ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("organization_id", "plugin_id", "name"),
        )
        with op.batch_alter_table("config_presets", schema=None) as batch_op:
            batch_op.create_index(
                batch_op.f("ix_config_presets_plugin_id"), ["plugin_id"], unique=False
            )

    if "plugin_installs" not in tables:
        op.create_table(
            "plugin_installs",
            sa.Column("organization_id", sa.String(length=32), nullable=False),
            sa.Column("plugin_id", sa.String(length=32), nullable=False),
            sa.Column("pinned_version", sa.String(length=100), nullable=True),
            sa.Column("installed_by", sa.String(length=32), nullable=False),
            sa.Column("installed_at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(["plugin_id"], ["plugins.id"], ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("organization_id", "plugin_id"),
        )
        with op.batch_alter_table("plugin_installs", schema=None) as batch_op:
            batch_op.create_index(
                batch_op.f("ix_plugin_installs_plugin_id"), ["plugin_id"], unique=False
            )

    if "web_sessions" not in tables:
        op.create_table(
            "web_sessions",
            sa.Column("token_hash", sa.String(length=64), nullable=False),
            sa.Column("user_id", sa.String(length=32), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("token_hash"),
        )
        with op.batch_alter_table("web_sessions", schema=None) as batch_op:
            batch_op.create_index(batch_op.f("ix_web_sessions_user_id"), ["user_id"], unique=False)

    if lacks_column("jobs", "required_version"):
        with op.batch_alter_table("jobs", schema=None) as batch_op:
            batch_op.add_column(sa.Column("required_version", sa.String(length=100), nullable=True))

    if lacks_column("plugins", "pinned_version"):
        with op.batch_alter_table("plugins", schema=None) as batch_op:
            batch_op.add_column(sa.Column("pinned_version", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("plugins", schema=None) as batch_op:
        batch_op.drop_column("pinned_version")

    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("required_version")

    with op.batch_alter_table("web_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_web_sessions_user_id"))

    op.drop_table("web_sessions")
    with op.batch_alter_table("plugin_installs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plugin_installs_plugin_id"))

    op.drop_table("plugin_installs")
    with op.batch_alter_table("config_presets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_config_presets_plugin_id"))

    op.drop_table("config_presets")
