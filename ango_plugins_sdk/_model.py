"""Model jobs: one task in, predictions out, written as pre-labels by the hub."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import IO, TYPE_CHECKING, Any, NotRequired, TypedDict

from pydantic import TypeAdapter

from ango_plugins_sdk._http import DataClient
from ango_plugins_sdk._job import ConfigT, DataJob, PlainConfig
from ango_plugins_sdk._plugins import Plugin
from ango_plugins_sdk._predictions import (
    AnyPrediction,
    BBox,
    Classification,
    Point,
    Polygon,
    Prediction,
)
from ango_plugins_sdk.protocol import JobType
from ango_plugins_sdk.protocol.workspace import Asset, ExportedTask

if TYPE_CHECKING:
    from typing_extensions import ReadOnly  # typing_extensions >= 4.9; only mypy reads it

_PREDICTIONS: TypeAdapter[list[AnyPrediction]] = TypeAdapter(list[AnyPrediction])


class AssetHandle:
    """A task's asset, with its bytes one call away (uploaded or by URL alike)."""

    def __init__(self, asset: Asset, data: DataClient, path: str) -> None:
        self._asset = asset
        self._data = data
        self._path = path

    def __getattr__(self, name: str) -> Any:
        return getattr(self._asset, name)  # url, width, height, type, external_id, metadata

    def open(self) -> IO[bytes]:
        """The asset's bytes as a binary stream; close it when done."""
        return self._data.open(self._path)

    def read_bytes(self) -> bytes:
        with self.open() as stream:
            return stream.read()

    def __repr__(self) -> str:
        return f"AssetHandle(id={self._asset.id!r}, url={self._asset.url!r})"


class ModelJob(DataJob[ConfigT]):
    job_type = JobType.MODEL

    @property
    def task(self) -> ExportedTask:
        """The task with its asset and current annotations."""
        return ExportedTask.model_validate(self.input["task"])

    @property
    def asset(self) -> AssetHandle:
        return AssetHandle(self.task.asset, self._data, self._io["asset_url"])

    @property
    def class_mapping(self) -> dict[str, str]:
        """Model class -> the project category its predictions go to."""
        return {cls: target["category_id"] for cls, target in self.input["class_mapping"].items()}

    def _finish(self, value: Any) -> Any:
        return {"predictions": _as_predictions(value)}


class ModelTask:
    """One task of a batch chunk: its id, the task, and its asset with the bytes helpers."""

    def __init__(self, task: ExportedTask, asset: AssetHandle) -> None:
        self.task_id = task.task_id
        self.task = task
        self.asset = asset

    def __repr__(self) -> str:
        return f"ModelTask(task_id={self.task_id!r})"


class BatchModelJob(DataJob[ConfigT]):
    """One chunk of a batch run: several tasks, predictions for each."""

    job_type = JobType.BATCH_MODEL

    @property
    def tasks(self) -> list[ModelTask]:
        prefix = self._io["assets_url"]
        return [
            ModelTask(task, AssetHandle(task.asset, self._data, f"{prefix}{task.asset.id}"))
            for task in (ExportedTask.model_validate(t) for t in self.input["tasks"])
        ]

    @property
    def class_mapping(self) -> dict[str, str]:
        return {cls: target["category_id"] for cls, target in self.input["class_mapping"].items()}

    def _finish(self, value: Any) -> Any:
        """{task_id: predictions}, or {"predictions": {...}, "errors": {task_id: reason}}."""
        if not isinstance(value, dict):
            raise TypeError(
                "a batch model callback must return {task_id: predictions}, "
                f"not {type(value).__name__}"
            )
        if isinstance(value.get("predictions"), dict):
            by_task, errors = value["predictions"], value.get("errors") or {}
        else:
            by_task, errors = value, {}
        predictions = {str(task_id): _as_predictions(found) for task_id, found in by_task.items()}
        return {"predictions": predictions, "errors": {str(k): str(v) for k, v in errors.items()}}


Predictions = Prediction | Iterable[BBox | Polygon | Point | Classification | Mapping[str, Any]]
"""A model's answer for one task: a `Prediction`, or the predictions (or their dicts)."""


class BatchOutcome(TypedDict):
    """A chunk's answer with the tasks that failed: `{"predictions": ..., "errors": ...}`."""

    # Read-only, so that a plugin's own, narrower dict types fit (dicts are invariant).
    predictions: ReadOnly[Mapping[str, Predictions]]
    errors: NotRequired[ReadOnly[Mapping[str, str]]]


BatchModelReturn = Mapping[str, Predictions] | BatchOutcome
"""A batch callback's answer: `{task_id: predictions}`, or a `BatchOutcome` (a dict either
way: the SDK refuses any other mapping)."""


class ModelPlugin(Plugin[ModelJob[ConfigT], ConfigT, Predictions, ModelJob[PlainConfig]]):
    """Serves model jobs: one task in, its predictions out, in pixels of the asset."""

    job_class = ModelJob


class BatchModelPlugin(
    Plugin[BatchModelJob[ConfigT], ConfigT, BatchModelReturn, BatchModelJob[PlainConfig]]
):
    """Serves batch model jobs: a chunk of tasks in, predictions for each task out."""

    job_class = BatchModelJob


def _as_predictions(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, Prediction):
        predictions = value.predictions
    elif isinstance(value, Iterable) and not isinstance(value, str | bytes | dict):
        predictions = _PREDICTIONS.validate_python(list(value))
    else:
        raise TypeError(
            "predictions must be a list of BBox/Polygon/Point/Classification or a Prediction, "
            f"not {type(value).__name__}"
        )
    return [p.model_dump(mode="json") for p in predictions]
