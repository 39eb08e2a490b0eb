"""The signing key several nodes share when HUB_SECRET_KEY is not set.

Job tokens are issued by the dispatcher and checked by whichever node serves the plugin's
data request; CSRF tokens are issued with a page by one node and checked on the form's post
by another. Both need one key across nodes. Rather than make operators set one, the first
node to start puts a random key in `shared_keys` and every node reads that row. Whoever can
read the database can read it, as they can read every job's data anyway; HUB_SECRET_KEY,
when set, wins (docs/security.md).
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from hub.db import Store
from hub.db.cluster_tables import SharedKey

SIGNING = "signing"


async def shared_signing_key(store: Store) -> bytes:
    """The key in the database, made now if no node made it before (two nodes racing both
    read the one that won)."""
    async with store.write() as session:
        await session.execute(
            insert(SharedKey)
            .values(name=SIGNING, value=secrets.token_bytes(32))
            .on_conflict_do_nothing(index_elements=[SharedKey.name])
        )
        key = await session.scalar(select(SharedKey.value).where(SharedKey.name == SIGNING))
    assert key is not None
    return bytes(key)
