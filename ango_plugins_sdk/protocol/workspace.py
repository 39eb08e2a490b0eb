"""The workspace's JSON shapes, shared by the hub's API, its export and the SDK.

Pure models, no I/O. Coordinates are pixels of the asset, origin top-left.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

_STRICT = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
_LENIENT = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)

Coordinate = Annotated[float, Field(ge=-1e7, le=1e7)]
Score = Annotated[float, Field(ge=0, le=1)]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]


class Tool(StrEnum):
    """How a category is annotated; decides which geometry its objects carry."""

    BBOX = "bbox"
    POLYGON = "polygon"
    POINT = "point"
    CLASSIFICATION = "classification"


class Category(BaseModel):
    model_config = _LENIENT

    id: str
    name: ShortText
    tool: Tool
    color: Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")] = "#1f77b4"


class CategoryIn(BaseModel):
    """A category to create; the hub assigns its id."""

    model_config = _STRICT

    name: ShortText
    tool: Tool
    color: Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")] | None = None


class BoxGeometry(BaseModel):
    model_config = _STRICT

    x: Coordinate
    y: Coordinate
    w: Annotated[float, Field(ge=0, le=1e7)]
    h: Annotated[float, Field(ge=0, le=1e7)]


class PointGeometry(BaseModel):
    model_config = _STRICT

    x: Coordinate
    y: Coordinate


Polygon = Annotated[list[tuple[Coordinate, Coordinate]], Field(min_length=3, max_length=10_000)]


class Source(BaseModel):
    """Who made an annotation: a person, or a plugin at a version."""

    model_config = _STRICT

    kind: Literal["human", "plugin"] = "human"
    plugin_id: str | None = None
    plugin_version: str | None = None


class AnnotationObject(BaseModel):
    """One object: exactly one of `bbox`, `polygon`, `point`, fitting its category's tool."""

    model_config = _STRICT

    category_id: str
    bbox: BoxGeometry | None = None
    polygon: Polygon | None = None
    point: PointGeometry | None = None
    source: Source = Source()
    score: Score | None = None

    @model_validator(mode="after")
    def _one_geometry(self) -> AnnotationObject:
        given = [name for name in ("bbox", "polygon", "point") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                f"an object needs exactly one of bbox, polygon, point; got {given or 'none'}"
            )
        return self

    @property
    def tool(self) -> Tool:
        if self.bbox is not None:
            return Tool.BBOX
        return Tool.POLYGON if self.polygon is not None else Tool.POINT


class Classification(BaseModel):
    model_config = _STRICT

    category_id: str
    value: str | bool | float
    source: Source = Source()
    score: Score | None = None


class AnnotationSet(BaseModel):
    """Everything annotated on one task."""

    model_config = _STRICT

    objects: Annotated[list[AnnotationObject], Field(max_length=100_000)] = []
    classifications: Annotated[list[Classification], Field(max_length=10_000)] = []


class AssetType(StrEnum):
    IMAGE = "image"
    MARKDOWN = "markdown"


class AssetIn(BaseModel):
    """An asset to create: an image by URL, or markdown text."""

    model_config = _STRICT

    url: Annotated[str, Field(max_length=4_000)] | None = None
    markdown: Annotated[str, Field(max_length=1_000_000)] | None = None
    external_id: Annotated[str, Field(max_length=500)] | None = None
    width: Annotated[int, Field(gt=0, le=1_000_000)] | None = None
    height: Annotated[int, Field(gt=0, le=1_000_000)] | None = None
    batch: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    metadata: dict[str, Any] = {}

    @model_validator(mode="after")
    def _url_or_markdown(self) -> AssetIn:
        if (self.url is None) == (self.markdown is None):
            raise ValueError("an asset needs exactly one of url or markdown")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError("url must be an http(s) URL")
        return self


class Asset(BaseModel):
    model_config = _LENIENT

    id: str
    type: AssetType
    url: str | None = None
    """Where to fetch an image: its own URL, or the hub's for an uploaded file."""
    markdown: str | None = None
    external_id: str | None = None
    width: int | None = None
    height: int | None = None
    metadata: dict[str, Any] = {}


class ExportedObject(BaseModel):
    """An object in the export: the annotation plus its category's name and tool."""

    model_config = _LENIENT

    category_id: str
    category: str
    tool: Tool
    bbox: BoxGeometry | None = None
    polygon: list[tuple[float, float]] | None = None
    point: PointGeometry | None = None
    source: Source = Source()
    score: float | None = None


class ExportedClassification(BaseModel):
    model_config = _LENIENT

    category_id: str
    category: str
    value: str | bool | float
    source: Source = Source()
    score: float | None = None


class ExportedAnnotations(BaseModel):
    model_config = _LENIENT

    objects: list[ExportedObject] = []
    classifications: list[ExportedClassification] = []


class ExportedTask(BaseModel):
    """One line of the NDJSON export: a task with its asset and annotations."""

    model_config = _LENIENT

    task_id: str
    stage: str
    batches: list[str] = []
    asset: Asset
    annotations: ExportedAnnotations = ExportedAnnotations()
    updated_at: str | None = None


class ProjectInfo(BaseModel):
    """What a plugin learns about the project it works on."""

    model_config = _LENIENT

    id: str
    name: str
    categories: list[Category] = []
    stages: list[str] = []
    batches: list[str] = []
