"""The workspace: projects with a category schema and stages, their assets, one task per
asset, the tasks' batches and annotations, and the streamed export plugins read.

One concept per module:

| module | holds |
| --- | --- |
| `requests.py` | what callers send: `ProjectCreate`, `AssetsCreate`, `TaskUpdate` |
| `views.py` | what the services return: frozen values, never ORM rows |
| `projects.py` | `ProjectService`; `check_stages`, the one "project has no stage" check |
| `assets.py` | `AssetService`: bulk create, image upload, an upload's bytes |
| `tasks.py` | `TaskService`: read, edit annotations, move, re-batch, count by stage |
| `export.py` | `ExportService`: the export, counted, paged and streamed |
| `task_rows.py` | the one writer of task rows and their batch rows, in a caller's session |
| `annotations.py` | annotation checks and how a plugin's pre-labels join a task's (pure) |
| `queries.py` | the reads the services share, inside a caller's session |
| `rows.py` | ORM rows to the values the services return |
| `ids.py` | ids for rows created together, in order |

Methods only people call take the `Principal`; those jobs call too (adding assets, a project's
info, the export) take the organization id. Either way another organization's object is as
good as absent.

The workspace builds no URLs: an uploaded asset's `url` (in the REST JSON and the export) is
`asset_url(asset_id)`, a function the hub passes in (`hub.paths.asset_file_path`).
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.blobs import Storage
from hub.db import Store
from hub.workspace.assets import AssetService
from hub.workspace.export import ExportService
from hub.workspace.projects import ProjectService
from hub.workspace.rows import AssetUrl
from hub.workspace.tasks import TaskService


@dataclass(frozen=True, slots=True)
class Workspace:
    """The workspace's services, as the hub holds them (`hub.workspace.tasks.get(...)`)."""

    projects: ProjectService
    assets: AssetService
    tasks: TaskService
    exports: ExportService

    @classmethod
    def build(cls, store: Store, storage: Storage, *, asset_url: AssetUrl) -> Workspace:
        return cls(
            projects=ProjectService(store),
            assets=AssetService(store, storage, asset_url),
            tasks=TaskService(store, asset_url),
            exports=ExportService(store, asset_url),
        )
