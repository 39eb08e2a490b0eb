"""The workspace's JSON shapes: what they accept and what they refuse."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from ango_plugins_sdk.protocol.workspace import (
    AnnotationObject,
    AnnotationSet,
    AssetIn,
    Category,
    CategoryIn,
    Classification,
    ExportedTask,
    ProjectInfo,
    Tool,
)


@pytest.mark.parametrize(
    ("geometry", "tool"),
    [
        ({"bbox": {"x": 1, "y": 2, "w": 3, "h": 4}}, Tool.BBOX),
        ({"polygon": [[0, 0], [4, 0], [4, 3]]}, Tool.POLYGON),
        ({"point": {"x": 5.5, "y": 6}}, Tool.POINT),
    ],
)
def test_an_object_has_one_geometry_and_knows_its_tool(
    geometry: dict[str, Any], tool: Tool
) -> None:
    obj = AnnotationObject.model_validate({"category_id": "c", **geometry})
    assert obj.tool == tool
    assert obj.source.kind == "human"


@pytest.mark.parametrize(
    "body",
    [
        {"category_id": "c"},
        {"category_id": "c", "bbox": {"x": 0, "y": 0, "w": 1, "h": 1}, "point": {"x": 0, "y": 0}},
        {"category_id": "c", "bbox": {"x": 0, "y": 0, "w": -1, "h": 1}},
        {"category_id": "c", "polygon": [[0, 0], [1, 1]]},
        {"category_id": "c", "point": {"x": float("nan"), "y": 0}},
        {"category_id": "c", "point": {"x": 0, "y": 0}, "score": 1.5},
        {"category_id": "c", "point": {"x": 0, "y": 0}, "colour": "red"},
    ],
    ids=[
        "none",
        "two",
        "negative-width",
        "two-point-polygon",
        "nan",
        "score-above-1",
        "unknown-field",
    ],
)
def test_bad_objects_are_refused(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        AnnotationObject.model_validate(body)


@pytest.mark.parametrize("value", ["red", True, 0.25])
def test_classification_values(value: str | bool | float) -> None:
    assert Classification(category_id="c", value=value).value == value


@pytest.mark.parametrize("value", [float("inf"), float("nan")])
def test_classification_values_must_be_finite(value: float) -> None:
    with pytest.raises(ValidationError):
        Classification(category_id="c", value=value)


def test_an_annotation_set_defaults_to_empty() -> None:
    assert AnnotationSet() == AnnotationSet(objects=[], classifications=[])


@pytest.mark.parametrize(
    ("body", "ok"),
    [
        ({"url": "https://e.com/a.jpg", "width": 10, "height": 20, "batch": "b"}, True),
        ({"markdown": "# hi", "external_id": "x"}, True),
        ({"url": "https://e.com/a.jpg", "markdown": "both"}, False),
        ({}, False),
        ({"url": "ftp://e.com/a.jpg"}, False),
        ({"url": "https://e.com/a.jpg", "width": 0}, False),
        ({"markdown": "x", "batch": ""}, False),
    ],
)
def test_asset_in_needs_exactly_one_source(body: dict[str, Any], ok: bool) -> None:
    if ok:
        assert AssetIn.model_validate(body)
    else:
        with pytest.raises(ValidationError):
            AssetIn.model_validate(body)


def test_categories_check_their_colour_and_tool() -> None:
    assert Category(id="1", name="car", tool="bbox").color == "#1f77b4"
    assert CategoryIn(name="car", tool="polygon", color="#A0b0C0").color == "#A0b0C0"
    with pytest.raises(ValidationError):
        CategoryIn(name="car", tool="bbox", color="red")
    with pytest.raises(ValidationError):
        CategoryIn(name="car", tool="cuboid")


def test_exported_task_and_project_info_read_what_the_hub_writes() -> None:
    line = (
        '{"task_id":"t","stage":"todo","batches":["b"],"future_field":1,'
        '"asset":{"id":"a","type":"image","url":"https://e/x.jpg","width":4,"height":3},'
        '"annotations":{"objects":[{"category_id":"c","category":"car","tool":"bbox",'
        '"bbox":{"x":0,"y":0,"w":1,"h":1}}]}}'
    )
    task = ExportedTask.model_validate_json(line)
    assert task.annotations.objects[0].category == "car"
    assert task.asset.width == 4
    info = ProjectInfo.model_validate({"id": "p", "name": "n", "stages": ["todo"]})
    assert info.categories == []
