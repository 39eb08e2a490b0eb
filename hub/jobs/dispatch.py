"""One dispatch round for one plugin: which queued jobs go to which of its live connections.

Pure decisions over the engine's in-memory state (no I/O, no awaiting): the engine commits
the assignments this returns before any `job` message leaves.
"""

from __future__ import annotations

from collections.abc import Callable

from ango_plugins_sdk.protocol import JobStatus
from hub.jobs.live import LiveConnection
from hub.jobs.queue import INTERACTIVE, PluginQueue
from hub.jobs.state import ActiveJob


def assign_round(
    queue: PluginQueue,
    connections: list[LiveConnection],
    find: Callable[[str], ActiveJob | None],
    *,
    interactive_reserve: int,
) -> list[tuple[LiveConnection, ActiveJob]]:
    """Fill the free slots of `connections` from `queue`, taking what it hands out.

    Each pick offers work to the least loaded connection with a free slot, so several
    processes share it. A connection drops out of the round when nothing queued is for it:
    no job its version may run (see `PluginQueue.pop` for version pins), or only batch work
    while its remaining slots are kept for interactive jobs. The others go on, so a job no
    live process can take never stops the jobs behind it. The caller marks each returned
    job running on its connection (and counts the slot).
    """
    open_connections = [c for c in connections if c.running < c.capacity]
    taken: dict[str, int] = {}
    assigned: list[tuple[LiveConnection, ActiveJob]] = []

    def free(connection: LiveConnection) -> int:
        return connection.capacity - connection.running - taken.get(connection.id, 0)

    while open_connections and queue.ready:
        connection = max(open_connections, key=free)
        job_id = queue.pop(connection.plugin_version)
        if job_id is None:
            open_connections.remove(connection)  # nothing queued that its version may run
            continue
        job = find(job_id)
        if job is None or job.status != JobStatus.QUEUED:
            continue
        batch_room = free(connection) - _reserved(connection, interactive_reserve)
        if job.priority != INTERACTIVE and batch_room <= 0:
            # The rest of this connection is kept for interactive work; the queue is in
            # priority order, so nothing interactive for it waits behind this job.
            queue.push_back(job.id, job.organization_id, job.priority, version=job.required_version)
            open_connections.remove(connection)
            continue
        taken[connection.id] = taken.get(connection.id, 0) + 1
        assigned.append((connection, job))
        if free(connection) <= 0:
            open_connections.remove(connection)
    return assigned


def _reserved(connection: LiveConnection, interactive_reserve: int) -> int:
    """Slots batch work leaves free for interactive jobs, which keep a single listing or
    one-task model run from waiting behind a long batch (a one-slot process keeps none)."""
    if connection.capacity <= 1:
        return 0
    return min(interactive_reserve, connection.capacity - 1)
