"""File explorer jobs: `list` a folder of the plugin's storage (interactive: someone is
browsing), or `import` files from it into the project, by URL or by copying their bytes."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ango_plugins_sdk.protocol import JobType
from ango_plugins_sdk.protocol.listing import ListingPage
from ango_plugins_sdk.protocol.workspace import AssetIn
from hub.job_types.base import (
    Answer,
    DataPath,
    DataRequest,
    InvalidOutput,
    JobKind,
    Submission,
    counted_assets,
)
from hub.jobs.engine import Applied
from hub.jobs.queue import BATCH, INTERACTIVE
from hub.jobs.state import ActiveJob
from hub.paths import job_data_path
from hub.services.errors import Invalid

MAX_ITEMS_PER_REQUEST = 1000


class _ListInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    folder: str = Field(default="", max_length=2_000)
    page_token: str | None = Field(default=None, max_length=10_000)
    page_size: int = Field(default=100, ge=1, le=1_000)


class _ImportInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    folder: str = Field(default="", max_length=2_000)
    recursive: bool = False
    files: list[str] = Field(default=[], max_length=10_000)
    extensions: list[str] = []
    batch: str | None = Field(default=None, min_length=1, max_length=200)
    dedupe: bool = False


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Annotated[str, Field(max_length=4_000)]
    external_id: Annotated[str, Field(max_length=500)] | None = None
    width: Annotated[int, Field(gt=0)] | None = None
    height: Annotated[int, Field(gt=0)] | None = None


class _Items(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: Annotated[list[_Item], Field(max_length=MAX_ITEMS_PER_REQUEST)]


class FileExplorerKind(JobKind):
    type = JobType.FILE_EXPLORER
    label = "File explorer"
    action = "Import"
    needs_project = True

    def default_priority(self, operation: str | None) -> int:
        return INTERACTIVE if operation == "list" else BATCH

    async def prepare_input(self, submission: Submission) -> dict[str, Any]:
        await self.project(submission)
        spec: BaseModel
        if submission.operation == "list":
            spec = submission.parse(_ListInput)
        elif submission.operation == "import":
            spec = submission.parse(_ImportInput)
        else:
            raise Invalid(
                "a file explorer job's operation is 'list' or 'import', "
                f"not {submission.operation!r}"
            )
        return {"project_id": submission.project_id, **spec.model_dump()}

    def data_paths(self) -> list[DataPath]:
        return [DataPath("POST", "items", self._items), DataPath("PUT", "upload", self._upload)]

    def io_paths(self, job: ActiveJob) -> dict[str, Any] | None:
        if job.operation == "list":
            return None  # a listing reads the plugin's storage only
        return {
            "items_url": job_data_path(job.id, "items"),
            "upload_url": job_data_path(job.id, "upload"),
        }

    async def _items(self, request: DataRequest) -> Answer:
        """Files an import found, by URL: assets in the job's project."""
        job = request.job
        sent = await request.json(_Items)
        try:
            assets = [
                AssetIn(
                    url=item.url,
                    external_id=item.external_id,
                    width=item.width,
                    height=item.height,
                    batch=job.input.get("batch"),
                )
                for item in sent.items
            ]
        except ValueError as exc:
            raise Invalid(f"invalid import item: {exc}") from None
        dedupe = bool(job.input.get("dedupe"))
        return Answer(await self.services.job_assets.create(job, assets, dedupe=dedupe))

    async def _upload(self, request: DataRequest) -> Answer:
        """One file an import copied: streamed into storage as an uploaded image."""
        job = request.job
        workspace = self.services.workspace
        external_id = request.query.get("external_id") or None
        project_id = job.input["project_id"]
        if (
            job.input.get("dedupe")
            and external_id is not None
            and await workspace.assets.has_external_id(job.organization_id, project_id, external_id)
        ):
            return Answer({"created": 0, "skipped": 1})
        await workspace.assets.upload_image(
            job.organization_id,
            project_id,
            request.query.get("filename") or external_id or "file",
            request.stream(),
            external_id=external_id,
            batch=job.input.get("batch"),
            created_by_job=await self.services.job_assets.tag(job),
        )
        return Answer({"created": 1, "skipped": 0}, status=201)

    def apply(self, job: ActiveJob, output: Any) -> Applied:
        if job.operation != "list":
            return Applied(counted_assets(self.type, output))
        try:
            return Applied(ListingPage.model_validate(output).model_dump(mode="json"))
        except ValidationError as exc:
            raise InvalidOutput(f"a listing must be a ListingPage: {exc}") from None
