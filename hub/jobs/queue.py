"""The queue of one plugin's jobs: interactive before batch, fair between organizations,
and each job only for the plugin versions it may run on.

Pure data structure, no I/O and no clock of its own: the engine passes `now`.

Version pins: a job may require one plugin version (its organization's pin when it was
submitted). Within a priority level, jobs wait in *groups* of one organization and one
required version, and the groups take turns. A process asks for work with its version,
and `pop` skips the groups it may not serve, so a pinned job that no live process can run
waits in its own group without holding up anything behind it. Skipping costs one step per
group (organizations x pins with queued work, a handful), never one per job; with no pins
every group is eligible and `pop` takes the first, as before.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict, deque

INTERACTIVE = 0
BATCH = 1
PRIORITIES = {"interactive": INTERACTIVE, "batch": BATCH}

Group = tuple[str, str | None]
"""(organization id, required plugin version or None for any)."""


class PluginQueue:
    """Ready jobs by priority level, each level round-robin over (organization, required
    version) groups; plus jobs waiting out a retry delay until `not_before`."""

    def __init__(self) -> None:
        self._levels: dict[int, OrderedDict[Group, deque[str]]] = {}
        self._delayed: list[tuple[float, str, Group, int]] = []
        self._size = 0

    def __len__(self) -> int:
        """Jobs ready now or later."""
        return self._size + len(self._delayed)

    @property
    def ready(self) -> int:
        return self._size

    def push(
        self,
        job_id: str,
        organization_id: str,
        priority: int,
        *,
        version: str | None = None,
        front: bool = False,
    ) -> None:
        groups = self._levels.setdefault(priority, OrderedDict())
        jobs = groups.setdefault((organization_id, version), deque())
        if front:
            jobs.appendleft(job_id)
        else:
            jobs.append(job_id)
        self._size += 1

    def push_later(
        self,
        job_id: str,
        organization_id: str,
        priority: int,
        not_before: float,
        *,
        version: str | None = None,
    ) -> None:
        heapq.heappush(self._delayed, (not_before, job_id, (organization_id, version), priority))

    def release_due(self, now: float) -> int:
        """Move delayed jobs whose time has come to the front of their level, in the order
        they came due (they have waited longest); how many moved."""
        due = []
        while self._delayed and self._delayed[0][0] <= now:
            due.append(heapq.heappop(self._delayed))
        for _, job_id, (organization_id, version), priority in reversed(due):
            self.push_back(job_id, organization_id, priority, version=version)
        return len(due)

    def push_back(
        self, job_id: str, organization_id: str, priority: int, *, version: str | None = None
    ) -> None:
        """Undo a `pop`: the job first in its group, and its group's turn first again, so
        that handing a job back never costs its organization its turn."""
        self.push(job_id, organization_id, priority, version=version, front=True)
        self._levels[priority].move_to_end((organization_id, version), last=False)

    def next_due(self) -> float | None:
        return self._delayed[0][0] if self._delayed else None

    def pop(self, version: str | None = None) -> str | None:
        """The next job a process reporting `version` may run (unpinned, or pinned to that
        version): the most urgent level, the first eligible group in turn. Without a
        version, the next job whatever its pin."""
        for priority in sorted(self._levels):
            groups = self._levels[priority]
            for group, jobs in groups.items():
                if version is not None and group[1] is not None and group[1] != version:
                    continue  # keeps its turn for a process that can run it
                job_id = jobs.popleft()
                if jobs:
                    groups.move_to_end(group)  # the next group's turn
                else:
                    del groups[group]
                self._size -= 1
                return job_id
        return None

    def remove(self, job_id: str) -> bool:
        """Take a job out wherever it is (cancelled while queued)."""
        for groups in self._levels.values():
            for group, jobs in groups.items():
                if job_id in jobs:
                    jobs.remove(job_id)
                    if not jobs:
                        del groups[group]
                    self._size -= 1
                    return True
        for index, entry in enumerate(self._delayed):
            if entry[1] == job_id:
                self._delayed.pop(index)
                heapq.heapify(self._delayed)
                return True
        return False
