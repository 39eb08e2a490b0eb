"""Model jobs: one task in, predictions out, written as pre-labels by the hub."""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO, Any

from pydantic import TypeAdapter

from ango_plugins_sdk._export import _DataJob
from ango_plugins_sdk._http import DataClient
from ango_plugins_sdk._job import ConfigT
from ango_plugins_sdk._predictions import AnyPrediction, Prediction
from ango_plugins_sdk.protocol import JobType
from ango_plugins_sdk.protocol.workspace import Asset, ExportedTask

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


class ModelJob(_DataJob[ConfigT]):
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
        if isinstance(value, Prediction):
            predictions = value.predictions
        elif isinstance(value, Iterable) and not isinstance(value, str | bytes | dict):
            predictions = _PREDICTIONS.validate_python(list(value))
        else:
            raise TypeError(
                "a model callback must return a list of BBox/Polygon/Point/Classification "
                f"or a Prediction, not {type(value).__name__}"
            )
        return {"predictions": [p.model_dump(mode="json") for p in predictions]}
