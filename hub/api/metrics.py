"""/metrics in the Prometheus text format."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from ango_plugins_sdk.protocol import TERMINAL_STATUSES
from hub.http.context import hub_of


async def metrics(request: Request) -> Response:
    hub = hub_of(request)
    engine = hub.jobs
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        lines.append(f"# HELP plugin_hub_{name} {help_text}")
        lines.append(f"# TYPE plugin_hub_{name} {kind}")
        lines.extend(f"plugin_hub_{name}{labels} {value:g}" for labels, value in samples)

    metric(
        "live_connections",
        "gauge",
        "Plugin processes connected now.",
        [("", len(hub.presence.all_connections()))],
    )
    metric(
        "live_plugins",
        "gauge",
        "Plugins with at least one live process.",
        [("", len(hub.presence.live_plugin_ids()))],
    )
    running = engine.running_count()
    metric(
        "active_jobs",
        "gauge",
        "Jobs queued or running.",
        [
            ('{status="queued"}', engine.queued_count()),
            ('{status="running"}', running),
        ],
    )
    metric(
        "jobs_finished_total",
        "counter",
        "Jobs that reached a terminal status.",
        [(f'{{status="{s}"}}', engine.finished[s]) for s in sorted(TERMINAL_STATUSES)],
    )
    metric(
        "group_commits_total",
        "counter",
        "Transactions written by the job engine.",
        [("", engine.commits)],
    )
    cluster = hub.cluster
    metric(
        "dispatcher",
        "gauge",
        "1 while this node runs the job engine and holds the plugin connections.",
        [("", 1.0 if engine.dispatching else 0.0)],
    )
    metric(
        "database_up",
        "gauge",
        "0 while this node cannot reach its database.",
        [("", 1.0 if cluster is None or cluster.database_ok else 0.0)],
    )
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")
