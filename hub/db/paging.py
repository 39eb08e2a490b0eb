"""Keyset pagination, newest first: ids sort by creation time (see hub.security.new_id)."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select

from hub.db.database import Store

Row = TypeVar("Row")

MAX_PAGE_SIZE = 200


async def newest_first(
    store: Store, query: Select[Row], id_column: Any, *, cursor: str | None, limit: int
) -> tuple[list[Row], str | None]:
    """One page of `query`'s rows, newest first, and the cursor of the next page (None at
    the end). The cursor is the last id served, so pages stay stable as rows are added."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    if cursor:
        query = query.where(id_column < cursor)
    async with store.read() as session:
        rows = list(await session.scalars(query.order_by(id_column.desc()).limit(limit + 1)))
    next_cursor = getattr(rows[limit - 1], "id") if len(rows) > limit else None  # noqa: B009
    return rows[:limit], next_cursor
