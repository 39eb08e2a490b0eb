"""The hub's URL layout: the paths it hands out inside JSON, built here and nowhere else.

Two kinds go out: where the REST API serves an uploaded asset's bytes (an asset's `url` in
the REST JSON and the NDJSON export), and a running job's data paths (sent in its input).
The routes themselves are mounted in hub/app.py (`/api/v1`, `/io`) from hub/api/projects.py
and hub/api/job_io.py; a path changed here must change there too.

Services build no URLs: the workspace is handed `asset_file_path` when the hub builds it
(hub/runtime.py), so its results carry the path the public contract promises.
"""

from __future__ import annotations


def asset_file_path(asset_id: str) -> str:
    """Where the REST API serves an uploaded asset's bytes (an API key reads it)."""
    return f"/api/v1/assets/{asset_id}/file"


def job_data_path(job_id: str, name: str) -> str:
    """One of a running job's data paths, e.g. `tasks` or `assets/` (its job token reads it)."""
    return f"/io/jobs/{job_id}/{name}"
