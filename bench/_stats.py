"""What the benchmark scripts share: percentiles and latencies read off the hub's jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def latency_ms(job: dict[str, Any]) -> float:
    """Submit -> finished, in ms, from the hub's own timestamps (one clock)."""
    created = datetime.fromisoformat(job["created_at"]).timestamp()
    return (datetime.fromisoformat(job["finished_at"]).timestamp() - created) * 1000
