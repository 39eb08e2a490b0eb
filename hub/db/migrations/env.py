"""Alembic's entry point: migrations run on the connection the hub hands over."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext

import hub.db.cluster_tables  # its tables join Base.metadata too
import hub.db.workspace_tables  # noqa: F401 (its tables join Base.metadata)
from hub.db.tables import Base, UTCDateTime

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through hub.db.migrations, which passes a connection")


def render_item(kind: str, item: Any, _context: AutogenContext) -> str | Literal[False]:
    """New revisions spell the hub's UTC column type as the plain SQL type it stores."""
    if kind == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite alters tables by copying them
    compare_type=True,
    render_item=render_item,
)
with context.begin_transaction():
    context.run_migrations()
