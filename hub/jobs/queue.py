"""The queue of one plugin's jobs: interactive before batch, fair between organizations.

Pure data structure, no I/O and no clock of its own: the engine passes `now`.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict, deque

INTERACTIVE = 0
BATCH = 1
PRIORITIES = {"interactive": INTERACTIVE, "batch": BATCH}


class PluginQueue:
    """Ready jobs by priority level, each level round-robin over organizations;
    plus jobs waiting out a retry delay until `not_before`."""

    def __init__(self) -> None:
        self._levels: dict[int, OrderedDict[str, deque[str]]] = {}
        self._delayed: list[tuple[float, str, str, int]] = []
        self._size = 0

    def __len__(self) -> int:
        """Jobs ready now or later."""
        return self._size + len(self._delayed)

    @property
    def ready(self) -> int:
        return self._size

    def push(
        self, job_id: str, organization_id: str, priority: int, *, front: bool = False
    ) -> None:
        orgs = self._levels.setdefault(priority, OrderedDict())
        jobs = orgs.setdefault(organization_id, deque())
        if front:
            jobs.appendleft(job_id)
        else:
            jobs.append(job_id)
        self._size += 1

    def push_later(
        self, job_id: str, organization_id: str, priority: int, not_before: float
    ) -> None:
        heapq.heappush(self._delayed, (not_before, job_id, organization_id, priority))

    def release_due(self, now: float) -> int:
        """Move delayed jobs whose time has come to the front of their level, in the order
        they came due (they have waited longest); how many moved."""
        due = []
        while self._delayed and self._delayed[0][0] <= now:
            due.append(heapq.heappop(self._delayed))
        for _, job_id, organization_id, priority in reversed(due):
            self.push(job_id, organization_id, priority, front=True)
            self._levels[priority].move_to_end(organization_id, last=False)
        return len(due)

    def next_due(self) -> float | None:
        return self._delayed[0][0] if self._delayed else None

    def pop(self) -> str | None:
        """The next job: the most urgent level, the organization whose turn it is."""
        for priority in sorted(self._levels):
            orgs = self._levels[priority]
            if not orgs:
                continue
            organization_id, jobs = next(iter(orgs.items()))
            job_id = jobs.popleft()
            if jobs:
                orgs.move_to_end(organization_id)  # the next organization's turn
            else:
                del orgs[organization_id]
            self._size -= 1
            return job_id
        return None

    def remove(self, job_id: str) -> bool:
        """Take a job out wherever it is (cancelled while queued)."""
        for orgs in self._levels.values():
            for organization_id, jobs in orgs.items():
                if job_id in jobs:
                    jobs.remove(job_id)
                    if not jobs:
                        del orgs[organization_id]
                    self._size -= 1
                    return True
        for index, entry in enumerate(self._delayed):
            if entry[1] == job_id:
                self._delayed.pop(index)
                heapq.heapify(self._delayed)
                return True
        return False
