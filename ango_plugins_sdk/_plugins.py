"""The plugin base class: its credentials, its typed callback and how many jobs it runs at once.

Each job type's module defines its plugin class next to its job class (`ExportPlugin` in
`_export.py`, ...): the class names the job class the runner builds for each job, and its type
arguments say what the callback receives and may return. A new job type is one new module;
there is no table of types to edit.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar, Generic, TypedDict, overload

from typing_extensions import TypeVar, Unpack

from ango_plugins_sdk._config import validated
from ango_plugins_sdk._errors import ConfigurationError
from ango_plugins_sdk._job import BaseJob, PlainConfig
from ango_plugins_sdk.manifest import ManifestError, manifest_version
from ango_plugins_sdk.protocol import JobType

DEFAULT_VERSION = "0.0.0"

# Defaults of Any, so that a bare `Plugin` annotation accepts every plugin. (The plugin classes'
# own config parameter, `_job.ConfigT`, defaults to a plain dict instead.)
JobT = TypeVar("JobT", bound=BaseJob[Any], default=Any)
ConfigT = TypeVar("ConfigT", default=Any)
ResultT = TypeVar("ResultT", default=Any)
PlainJobT = TypeVar("PlainJobT", bound=BaseJob[Any], default=Any)
_Job = TypeVar("_Job")
_Result = TypeVar("_Result")

Callback = Callable[[_Job], _Result | Awaitable[_Result]]
"""A plugin's callback: sync (run in a worker thread) or async, one job in, its result out."""


class PluginOptions(TypedDict, total=False):
    """What a plugin takes besides its callback and config model."""

    id: str | None
    secret: str | None
    concurrency: int
    version: str | None
    class_names: Sequence[str] | None


class Plugin(Generic[JobT, ConfigT, ResultT, PlainJobT]):
    """A plugin: its credentials, its callback and how many jobs it runs at once.

    `id` and `secret` may be left out; `run()` then reads `PLUGIN_ID` and `PLUGIN_SECRET`.

    The type arguments: `JobT`, the job the callback receives; `ConfigT`, that job's config,
    an instance of `config_model` or, without one, a plain dict; `ResultT`, what the callback
    may return; `PlainJobT`, the job with a plain dict config (what the callback receives when
    the plugin declares no `config_model`).
    """

    job_class: ClassVar[type[BaseJob[Any]]]
    """The job the runner builds for each job message and hands to the callback."""
    callback: Callback[JobT, ResultT]

    @overload
    def __init__(
        self,
        *,
        callback: Callback[PlainJobT, ResultT],
        config_model: None = None,
        **options: Unpack[PluginOptions],
    ) -> None: ...
    @overload
    def __init__(
        self,
        *,
        callback: Callback[JobT, ResultT],
        config_model: type[ConfigT],
        **options: Unpack[PluginOptions],
    ) -> None: ...
    def __init__(
        self,
        *,
        callback: Callback[Any, Any],
        config_model: type[ConfigT] | None = None,
        id: str | None = None,
        secret: str | None = None,
        concurrency: int = 1,
        version: str | None = None,
        class_names: Sequence[str] | None = None,
    ) -> None:
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {type(callback).__name__}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if version is not None and not version:
            raise ValueError("version must not be empty")
        self.id = id
        self.secret = secret
        self.callback = callback
        self.concurrency = concurrency
        self._version = version
        self._defined_in = _caller_file()
        """The file that made this plugin (its plugin.py): its manifest is beside it."""
        self.config_model = config_model
        self.class_names = list(class_names or [])
        """The classes a model predicts; register the same ones on the hub for mapping."""

    @property
    def version(self) -> str:
        """The version the process reports: the one given, else the `version` of the
        manifest beside the plugin's script (plugin.toml; docs/manifest.md), else 0.0.0."""
        if self._version is None:
            try:
                self._version = manifest_version(self._defined_in) or DEFAULT_VERSION
            except ManifestError as exc:
                raise ConfigurationError(f"cannot read the plugin's manifest: {exc}") from None
        return self._version

    @property
    def job_type(self) -> JobType:
        return self.job_class.job_type

    def parse_config(self, config: PlainConfig) -> ConfigT:
        """The config a job of this plugin receives: `config` validated into `config_model`,
        or `config` itself without one. Raises `InvalidConfig`, naming each problem."""
        parsed: ConfigT = validated(config, self.config_model)
        return parsed

    def __repr__(self) -> str:
        # Never the secret.
        return f"{type(self).__name__}(id={self.id!r}, version={self._version!r})"


def _caller_file() -> str | None:
    """The file of the first frame outside the SDK: the module constructing a plugin."""
    sdk = os.path.dirname(os.path.abspath(__file__))
    frame = sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(sdk):
        frame = frame.f_back  # type: ignore[assignment]
    return None if frame is None else frame.f_code.co_filename
