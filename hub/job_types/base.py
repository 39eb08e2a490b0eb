"""What a job type is to the hub: one small interface, implemented once per type.

A type decides four things, each in its own module (hub/job_types/<type>.py):

- **submit**: what its input must hold, checked and completed for the plugin up front
  (`prepare`), and how urgent its jobs are by default (`default_priority`);
- **dispatch**: the data paths its plugin may use while an attempt runs (`io_paths` in the
  job's input, served by `data_paths`), behind the attempt's job token;
- **outcome**: what a successful output means and what it writes (`apply`), in the same
  transaction as the job's final status;
- **runs** (batch model only): a job whose work is done by child jobs (`is_run`, `fold`),
  and opened again with new children by a retry (`rerun`).

Nothing here knows HTTP: a data path takes a `DataRequest` and gives back a `DataAnswer`,
which hub/api/job_io.py turns into a response.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from ango_plugins_sdk.protocol import JobStatus, JobType
from ango_plugins_sdk.protocol.workspace import AssetIn, ProjectInfo
from hub.blobs import Storage
from hub.jobs.engine import Applied
from hub.jobs.queue import BATCH
from hub.jobs.state import ActiveJob, StoredOrActiveJob
from hub.jobs.tokens import JobTokens
from hub.security import new_id
from hub.services.errors import Invalid
from hub.services.files import FileService
from hub.workspace import Workspace

M = TypeVar("M", bound=BaseModel)

log = logging.getLogger("hub.jobs")


@dataclass(frozen=True, slots=True)
class Services:
    """What job types use: the workspace, uploaded files, blob storage, job tokens."""

    workspace: Workspace
    files: FileService
    storage: Storage
    tokens: JobTokens
    job_assets: JobAssets


@dataclass(frozen=True, slots=True)
class PluginFacts:
    """What a submit needs to know of the plugin."""

    id: str
    class_names: list[str]
    job_timeout_s: float | None
    pinned_version: str | None


@dataclass(frozen=True, slots=True)
class Submission:
    """One job request being submitted: who asks, for which plugin, with what."""

    organization_id: str
    user_id: str
    plugin: PluginFacts
    config: dict[str, Any]
    raw_input: dict[str, Any]
    operation: str | None
    project_id: str | None
    priority: int | None
    """The request's priority; None for the type's default."""
    timeout_s: float | None
    where: str
    """Where in the request this job is, for error messages ("input", "jobs[3].input")."""
    now: float

    def job(
        self,
        job_input: dict[str, Any],
        *,
        priority: int,
        operation: str | None = None,
        status: JobStatus = JobStatus.QUEUED,
        job_type: JobType,
    ) -> ActiveJob:
        """A new job of this submission, keeping its organization's version pin for all its
        attempts and retries."""
        return ActiveJob(
            id=new_id(),
            organization_id=self.organization_id,
            plugin_id=self.plugin.id,
            created_by=self.user_id,
            type=job_type,
            operation=operation,
            config=self.config,
            input=job_input,
            priority=priority,
            timeout_s=self.timeout_s or self.plugin.job_timeout_s,
            status=status,
            created_at=self.now,
            required_version=self.plugin.pinned_version,
        )

    def parse(self, model: type[M]) -> M:
        """The raw input as `model`; the first problem is a 422 naming its field."""
        return parse(model, self.raw_input, self.where)


# --- data paths -------------------------------------------------------------------------------


class DataRequest(Protocol):
    """A plugin's request on one of its job's data paths."""

    job: ActiveJob
    params: Mapping[str, str]
    """Path parameters, e.g. `asset_id` in `assets/{asset_id}`."""
    query: Mapping[str, str]
    content_type: str

    async def json(self, model: type[M], *, max_bytes: int | None = None) -> M: ...

    def stream(self) -> AsyncIterator[bytes]: ...


@dataclass(frozen=True, slots=True)
class Stream:
    chunks: AsyncIterator[bytes]
    media_type: str


@dataclass(frozen=True, slots=True)
class Redirect:
    url: str


@dataclass(frozen=True, slots=True)
class Answer:
    body: dict[str, Any]
    status: int = 200


DataAnswer = Stream | Redirect | Answer
Handler = Callable[[DataRequest], Awaitable[DataAnswer]]


@dataclass(frozen=True, slots=True)
class DataPath:
    """One data path of a type: `name` may hold one `{parameter}` segment."""

    method: Literal["GET", "PUT", "POST"]
    name: str
    handle: Handler

    def match(self, method: str, name: str) -> dict[str, str] | None:
        """The path parameters if `method name` is this path, else None."""
        if method != self.method:
            return None
        ours, theirs = self.name.split("/"), name.split("/")
        if len(ours) != len(theirs):
            return None
        params: dict[str, str] = {}
        for pattern, part in zip(ours, theirs, strict=True):
            if pattern.startswith("{") and pattern.endswith("}") and part:
                params[pattern[1:-1]] = part
            elif pattern != part:
                return None
        return params


# --- the interface ------------------------------------------------------------------------------


class JobKind:
    """A job type's rules. Subclasses set the class attributes and override what differs."""

    type: ClassVar[JobType]
    label: ClassVar[str]
    """The type's name on pages ("Batch model")."""
    action: ClassVar[str] = "Run"
    """What starting a job of it is called on the run page ("Export")."""
    needs_project: ClassVar[bool] = False

    def __init__(self, services: Services) -> None:
        self.services = services
        self.paths: list[DataPath] = self.data_paths()

    # submit

    def default_priority(self, operation: str | None) -> int:
        return BATCH

    async def prepare(self, submission: Submission) -> list[ActiveJob]:
        """The jobs a request makes (one, or a run and its chunks), with their stored input:
        checked, and with what the plugin needs up front."""
        job_input = await self.prepare_input(submission)
        priority = submission.priority
        if priority is None:
            priority = self.default_priority(submission.operation)
        return [
            submission.job(
                job_input, priority=priority, operation=submission.operation, job_type=self.type
            )
        ]

    async def prepare_input(self, submission: Submission) -> dict[str, Any]:
        return dict(submission.raw_input)

    async def project(self, submission: Submission) -> ProjectInfo:
        """The job's project: required, and the caller's (another's is a 404)."""
        if not submission.project_id:
            noun = self.label.lower()
            article = "an" if noun[0] in "aeiou" else "a"
            raise Invalid(f"{article} {noun} job needs a project_id")
        return await self.services.workspace.projects.info(
            submission.organization_id, submission.project_id
        )

    def check_retry(self, job: StoredOrActiveJob) -> None:
        """Raise if this finished job may not be retried on its own."""

    # dispatch

    def data_paths(self) -> list[DataPath]:
        """What the type's plugin may read and write while an attempt runs."""
        return []

    def io_paths(self, job: ActiveJob) -> dict[str, Any] | None:
        """The paths sent in the job's input under `io` (with the attempt's token), or None
        when this job needs none."""
        return None

    # outcome

    def apply(self, job: ActiveJob, output: Any) -> Applied:
        """What a successful output means; raises ValueError (InvalidOutput) if it does not
        fit the type."""
        return Applied(output)

    # runs

    def is_run(self, job: ActiveJob) -> bool:
        """True for a job whose work is done by child jobs: never dispatched itself."""
        return False

    def fold(self, run: ActiveJob, child: ActiveJob) -> bool:
        """Add a finished child to its run; True once every child is in."""
        raise NotImplementedError(f"{self.type} jobs have no runs")

    def run_outcome(self, run: ActiveJob) -> tuple[JobStatus, dict[str, Any] | None]:
        raise NotImplementedError(f"{self.type} jobs have no runs")

    def rerun(
        self,
        run: ActiveJob,
        children: Sequence[ActiveJob],
        *,
        only_failed: bool,
        by: str,
        now: float,
    ) -> tuple[list[ActiveJob], str]:
        """Open a finished run again with new children (all its work, or what failed); the
        new children and what to log. No children: nothing to do."""
        raise NotImplementedError(f"{self.type} jobs have no runs")


class InvalidOutput(ValueError):
    """A plugin's output does not fit its job type; the job fails with this message."""


def parse(model: type[M], raw: dict[str, Any], where: str) -> M:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where_in = ".".join(str(p) for p in first["loc"])
        raise Invalid(f"{where}.{where_in}: {first['msg']}") from None


@dataclass
class JobAssets:
    """The assets jobs create (markdown documents, imported files), tagged by attempt.

    The first time an attempt after its run's first creates any, the assets of the run's
    earlier attempts are removed: an attempt lost halfway would otherwise leave duplicates
    behind when the job runs again. Earlier runs' assets (a retry is a new run) stay: people
    may have annotated them since. Memory only: after a restart the removal runs once more,
    finds nothing, and is harmless.
    """

    workspace: Workspace
    _fresh: set[str] = field(default_factory=set)

    async def tag(self, job: ActiveJob) -> str:
        tag = f"{job.id}:{job.attempt}"
        first = int(job.input.get("run_from_attempt", 1))
        if job.attempt > first and tag not in self._fresh:
            removed = await self.workspace.assets.delete_created_by(
                job.organization_id,
                job.input["project_id"],
                job.id,
                attempts=range(first, job.attempt),
            )
            self._fresh.add(tag)
            if removed:
                log.info("job %s: removed %d assets of earlier attempts", job.id, removed)
        return tag

    async def create(
        self, job: ActiveJob, assets: list[AssetIn], *, dedupe: bool
    ) -> dict[str, int]:
        """Create them in the job's project; the counts the plugin is answered with."""
        created, skipped = await self.workspace.assets.create_many(
            job.organization_id,
            job.input["project_id"],
            assets,
            dedupe=dedupe,
            created_by_job=await self.tag(job),
        )
        return {"created": created, "skipped": skipped}


def counted_assets(job_type: JobType, output: Any) -> dict[str, Any]:
    """The result of a job that creates assets: how many it created and skipped."""
    if not isinstance(output, dict) or not all(
        isinstance(output.get(k), int) for k in ("created", "skipped")
    ):
        raise InvalidOutput(f"a {job_type} result needs integer 'created' and 'skipped'")
    return output
