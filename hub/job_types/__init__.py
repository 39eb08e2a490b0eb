"""Every job type the hub knows, one module each, collected in one registry.

`JobTypes` is what the rest of the hub asks about types: the job service (submit, retry),
the job data paths (hub/api/job_io.py), the pages (labels), and the job engine, for which
it is the `TypeRules`: the input a dispatched attempt gets (the type's data paths with the
attempt's token), what an output means, and how a run folds its children. A new type is a
new module here (a `JobKind`), added to `KINDS`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from ango_plugins_sdk.protocol import JobStatus, JobType
from hub.blobs import Storage
from hub.job_types.base import JobAssets, JobKind, Services
from hub.job_types.batch_model import BatchModelKind
from hub.job_types.custom import CustomKind
from hub.job_types.export import ExportKind
from hub.job_types.file_explorer import FileExplorerKind
from hub.job_types.markdown import MarkdownKind
from hub.job_types.model import ModelKind
from hub.jobs.engine import Applied
from hub.jobs.state import ActiveJob
from hub.jobs.tokens import JobTokens
from hub.services.files import FileService
from hub.workspace import Workspace

__all__ = ["KINDS", "JobKind", "JobTypes", "Services"]

KINDS: tuple[type[JobKind], ...] = (
    CustomKind,
    ExportKind,
    MarkdownKind,
    ModelKind,
    BatchModelKind,
    FileExplorerKind,
)


class JobTypes:
    def __init__(self, services: Services, kinds: tuple[type[JobKind], ...] = KINDS) -> None:
        self.services = services
        self._kinds = {kind.type: kind(services) for kind in kinds}

    @classmethod
    def build(
        cls,
        workspace: Workspace,
        files: FileService,
        storage: Storage,
        tokens: JobTokens,
        *,
        kinds: tuple[type[JobKind], ...] = KINDS,
    ) -> JobTypes:
        job_assets = JobAssets(workspace)
        return cls(Services(workspace, files, storage, tokens, job_assets), kinds)

    def __getitem__(self, job_type: str) -> JobKind:
        return self._kinds[JobType(job_type)]

    def __iter__(self) -> Iterator[JobKind]:
        return iter(self._kinds.values())

    def labels(self) -> dict[JobType, str]:
        """Each type's name on pages."""
        return {kind.type: kind.label for kind in self}

    # --- what the engine asks (TypeRules) -----------------------------------------------

    def dispatch_input(self, job: ActiveJob) -> dict[str, Any]:
        """The input sent with this attempt: the stored input plus, for a type that has
        them, its data paths and the token that opens them for this attempt only."""
        paths = self[job.type].io_paths(job)
        if paths is None:
            return job.input
        token = self.services.tokens.issue(job.id, job.attempt)
        return {**job.input, "io": {"token": token, **paths}}

    def apply(self, job: ActiveJob, output: Any) -> Applied:
        return self[job.type].apply(job, output)

    def is_run(self, job: ActiveJob) -> bool:
        return self[job.type].is_run(job)

    def fold(self, run: ActiveJob, child: ActiveJob) -> bool:
        return self[run.type].fold(run, child)

    def run_outcome(self, run: ActiveJob) -> tuple[JobStatus, dict[str, Any] | None]:
        return self[run.type].run_outcome(run)

    def rerun(
        self,
        run: ActiveJob,
        children: Sequence[ActiveJob],
        *,
        only_failed: bool,
        by: str,
        now: float,
    ) -> tuple[list[ActiveJob], str]:
        return self[run.type].rerun(run, children, only_failed=only_failed, by=by, now=now)
