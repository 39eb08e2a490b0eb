"""How a plugin's pre-labels join a task's annotations (hub/workspace/annotations.py, pure)."""

from __future__ import annotations

from typing import Any

from hub.workspace.annotations import with_plugin_annotations


def box(x: float, source: dict[str, Any]) -> dict[str, Any]:
    return {"category_id": "car", "bbox": {"x": x, "y": 0, "w": 1, "h": 1}, "source": source}


PERSON: dict[str, Any] = {"kind": "human"}
PLUGIN_A = {"kind": "plugin", "plugin_id": "a"}
PLUGIN_B = {"kind": "plugin", "plugin_id": "b"}
CURRENT = {
    "objects": [box(1, PERSON), box(2, PLUGIN_A), box(3, PLUGIN_B)],
    "classifications": [{"category_id": "sky", "value": "clear", "source": PLUGIN_A}],
}


def test_overwrite_replaces_only_what_the_same_plugin_wrote() -> None:
    new = box(9, PLUGIN_A)
    merged = with_plugin_annotations(CURRENT, [new], [], plugin_id="a", overwrite=True)
    assert merged == {"objects": [box(1, PERSON), box(3, PLUGIN_B), new], "classifications": []}


def test_without_overwrite_everything_stays_and_the_new_ones_follow() -> None:
    new = box(9, PLUGIN_A)
    merged = with_plugin_annotations(CURRENT, [new], [], plugin_id="a", overwrite=False)
    assert merged["objects"] == [*CURRENT["objects"], new]
    assert merged["classifications"] == CURRENT["classifications"]


def test_a_task_without_annotations_gets_the_plugins() -> None:
    new = box(9, PLUGIN_A)
    merged = with_plugin_annotations({}, [new], [], plugin_id="a", overwrite=True)
    assert merged == {"objects": [new], "classifications": []}
