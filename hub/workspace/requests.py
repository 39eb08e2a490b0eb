"""What callers send the workspace: a project to create, assets to add, a change to a task.

Pydantic models, checked where a request is read (a JSON body or a dashboard form), so the
services get well-formed values.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from ango_plugins_sdk.protocol.workspace import AssetIn, CategoryIn

MAX_ASSETS_PER_REQUEST = 10_000
MAX_JSON_ASSETS_BYTES = 32 * 1024 * 1024
"""A JSON asset list (up to 10,000 assets, markdown ones up to 1 MB each) may be larger than
other JSON bodies (HUB_MAX_BODY_SIZE): its routes say so, and stay capped all the same."""


def _unique_category_names(value: list[CategoryIn]) -> list[CategoryIn]:
    seen: set[str] = set()
    for category in value:
        if category.name in seen:
            raise ValueError(f"category names must be unique; {category.name!r} appears twice")
        seen.add(category.name)
    return value


def _unique_stages(value: list[str]) -> list[str]:
    if len(set(value)) != len(value):
        raise ValueError("stage names must be unique")
    return value


def _unique_batches(value: list[str]) -> list[str]:
    return list(dict.fromkeys(value))


Name = Annotated[str, Field(min_length=1, max_length=200)]
StageName = Annotated[str, Field(min_length=1, max_length=100)]
BatchName = Annotated[str, Field(min_length=1, max_length=200)]


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Name
    description: Annotated[str, Field(max_length=10_000)] = ""
    categories: Annotated[
        list[CategoryIn], Field(max_length=1_000), AfterValidator(_unique_category_names)
    ] = []
    stages: Annotated[list[StageName], Field(max_length=50), AfterValidator(_unique_stages)] = []
    """Stages beyond the default todo, in_progress, review, done (e.g. a model plugin's)."""


class AssetsCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    assets: Annotated[list[AssetIn], Field(min_length=1, max_length=MAX_ASSETS_PER_REQUEST)]
    dedupe: bool = False
    """Skip assets whose external_id is already in the project (or earlier in this list)."""


class TaskUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    stage: StageName | None = None
    batches: (
        Annotated[list[BatchName], Field(max_length=100), AfterValidator(_unique_batches)] | None
    ) = None
    """The task's batches, replacing the ones it had."""

    @model_validator(mode="after")
    def _no_nulls(self) -> TaskUpdate:
        for name in ("stage", "batches"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self
