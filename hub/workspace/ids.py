"""Ids for rows created together (a project's categories, a request's assets and tasks)."""

from __future__ import annotations

from hub.security import new_id


def sequential_ids(count: int) -> list[str]:
    """`count` fresh ids in increasing order, so rows created together keep their order
    (lists and the export sort by id)."""
    first = new_id()
    millis, start = first[:12], int(first[12:], 16) & (2**47 - 1)
    return [f"{millis}{start + i:012x}" for i in range(count)]
