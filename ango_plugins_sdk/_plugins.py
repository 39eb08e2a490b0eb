"""Plugin classes: one per job type, each wrapping the author's callback."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from pydantic import BaseModel

from ango_plugins_sdk.protocol import JobType

Callback = Callable[..., Any]


class Plugin:
    """A plugin: its credentials, its callback and how many jobs it runs at once.

    `id` and `secret` may be left out; `run()` then reads `PLUGIN_ID` and `PLUGIN_SECRET`.
    """

    job_type: ClassVar[JobType]

    def __init__(
        self,
        *,
        callback: Callback,
        id: str | None = None,
        secret: str | None = None,
        concurrency: int = 1,
        version: str = "0.0.0",
        config_model: type[BaseModel] | None = None,
        class_names: Sequence[str] | None = None,
    ) -> None:
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {type(callback).__name__}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if not version:
            raise ValueError("version must not be empty")
        self.id = id
        self.secret = secret
        self.callback = callback
        self.concurrency = concurrency
        self.version = version
        self.config_model = config_model
        self.class_names = list(class_names or [])
        """The classes a model predicts; register the same ones on the hub for mapping."""

    def __repr__(self) -> str:
        # Never the secret.
        return f"{type(self).__name__}(id={self.id!r}, version={self.version!r})"


class ExportPlugin(Plugin):
    job_type = JobType.EXPORT


class ModelPlugin(Plugin):
    job_type = JobType.MODEL


class BatchModelPlugin(Plugin):
    job_type = JobType.BATCH_MODEL


class FileExplorerPlugin(Plugin):
    job_type = JobType.FILE_EXPLORER


class MarkdownPlugin(Plugin):
    job_type = JobType.MARKDOWN


class CustomPlugin(Plugin):
    job_type = JobType.CUSTOM
