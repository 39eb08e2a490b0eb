"""The plugin classes are typed: mypy --strict accepts a callback of the plugin's job type and
result, and refuses one of another type, a wrong result, or a config model left out."""

from __future__ import annotations

import re
from pathlib import Path

import mypy.api

ROOT = Path(__file__).resolve().parents[2]

CALLBACKS = """
from collections.abc import Iterator

from pydantic import BaseModel

from ango_plugins_sdk import (
    BBox, BatchModelJob, CustomJob, ExportJob, ExportResult, FileExplorerJob, ImportItem,
    ListingPage, MarkdownDocument, MarkdownJob, ModelJob,
)


class Settings(BaseModel):
    threshold: int = 1


class OtherSettings(BaseModel):
    label: str = ""


def export(job: ExportJob) -> ExportResult:
    return ExportResult(file=b"x", filename="x.bin")


async def export_as_ango_does(job: ExportJob) -> tuple[str, bytes]:
    return ("x.bin", b"x")


def detect(job: ModelJob) -> list[BBox]:
    return []


def detect_chunk(job: BatchModelJob) -> dict[str, list[BBox]]:
    return {task.task_id: [] for task in job.tasks}


def documents(job: MarkdownJob) -> Iterator[MarkdownDocument]:
    yield MarkdownDocument(markdown="# hi")


def explore(job: FileExplorerJob) -> ListingPage | Iterator[ImportItem]:
    return ListingPage()


def count(job: CustomJob[Settings]) -> int:
    return job.config.threshold


def summary(job: ExportJob) -> dict[str, int]:
    return {"tasks": job.num_tasks}
"""

RIGHT = """
from typing import Any

from typing_extensions import assert_type

from ango_plugins_sdk import (
    BatchModelPlugin, CustomPlugin, ExportPlugin, FileExplorerPlugin, MarkdownPlugin,
    ModelPlugin, run,
)
from callbacks import (
    Settings, count, detect, detect_chunk, documents, explore, export, export_as_ango_does,
)

assert_type(ExportPlugin(callback=export), ExportPlugin[dict[str, Any]])
ExportPlugin(callback=export_as_ango_does, concurrency=2)
ModelPlugin(callback=detect, class_names=["face"], version="1.0.0")
BatchModelPlugin(callback=detect_chunk)
MarkdownPlugin(callback=documents)
FileExplorerPlugin(callback=explore)
plugin = CustomPlugin(callback=count, config_model=Settings)
assert_type(plugin, CustomPlugin[Settings])
assert_type(plugin.parse_config({"threshold": 2}), Settings)
run(plugin)
"""

# Each wrong use on its own, in a file of its own; the line marked `# wrong` must be refused.
WRONG = {
    "model_callback_for_export": "ExportPlugin(callback=detect)  # wrong",
    "export_callback_for_model": "ModelPlugin(callback=export)  # wrong",
    "not_an_export_result": "ExportPlugin(callback=summary)  # wrong",
    "config_model_left_out": "CustomPlugin(callback=count)  # wrong",
    "another_config_model": "CustomPlugin(callback=count, config_model=OtherSettings)  # wrong",
}
WRONG_HEADER = (
    "from ango_plugins_sdk import CustomPlugin, ExportPlugin, ModelPlugin\n"
    "from callbacks import OtherSettings, count, detect, export, summary\n\n"
)


def test_mypy_accepts_right_callbacks_and_refuses_wrong_ones(tmp_path: Path) -> None:
    (tmp_path / "callbacks.py").write_text(CALLBACKS)
    (tmp_path / "right.py").write_text(RIGHT)
    wrong_lines: dict[str, int] = {}
    for name, body in WRONG.items():
        source = WRONG_HEADER + body + "\n"
        (tmp_path / f"{name}.py").write_text(source)
        wrong_lines[name] = source.splitlines().index(body) + 1
    files = sorted(str(path) for path in tmp_path.glob("*.py"))

    report, errors, _ = mypy.api.run(
        [
            "--strict",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            "--no-error-summary",
            *files,
        ]
    )

    assert errors == ""
    refused = {
        (Path(match["file"]).stem, int(match["line"]))
        for match in re.finditer(r"^(?P<file>[^:\n]+):(?P<line>\d+): error: ", report, re.M)
    }
    assert refused == set(wrong_lines.items()), report
    assert report.count('error: Argument "callback"') == len(WRONG), report
