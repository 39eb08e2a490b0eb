"""What model callbacks return: predictions in pixel coordinates of the asset."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

_MODEL = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
ClassName = Annotated[str, Field(min_length=1, max_length=200)]
Score = Annotated[float, Field(ge=0, le=1)]


class BBox(BaseModel):
    """A box: top-left corner, width and height, in pixels."""

    model_config = _MODEL
    kind: Literal["bbox"] = "bbox"
    cls: ClassName
    x: float
    y: float
    w: Annotated[float, Field(ge=0)]
    h: Annotated[float, Field(ge=0)]
    score: Score | None = None


class Polygon(BaseModel):
    model_config = _MODEL
    kind: Literal["polygon"] = "polygon"
    cls: ClassName
    points: Annotated[list[tuple[float, float]], Field(min_length=3, max_length=10_000)]
    score: Score | None = None


class Point(BaseModel):
    model_config = _MODEL
    kind: Literal["point"] = "point"
    cls: ClassName
    x: float
    y: float
    score: Score | None = None


class Classification(BaseModel):
    model_config = _MODEL
    kind: Literal["classification"] = "classification"
    cls: ClassName
    value: str | bool | float
    score: Score | None = None


AnyPrediction = Annotated[BBox | Polygon | Point | Classification, Field(discriminator="kind")]


class Prediction(BaseModel):
    """A model's answer for one task: its predictions (a plain list works too)."""

    model_config = _MODEL
    predictions: list[AnyPrediction] = []
