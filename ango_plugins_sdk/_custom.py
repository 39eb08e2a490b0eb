"""Custom jobs: a config (and optional input) in, any JSON out."""

from __future__ import annotations

from ango_plugins_sdk._job import BaseJob, ConfigT, PlainConfig
from ango_plugins_sdk._plugins import Plugin
from ango_plugins_sdk.protocol import JobType


class CustomJob(BaseJob[ConfigT]):
    """A generic job: config (and optional input) in, JSON out."""

    job_type = JobType.CUSTOM


class CustomPlugin(Plugin[CustomJob[ConfigT], ConfigT, object, CustomJob[PlainConfig]]):
    """Serves custom jobs: the callback returns anything JSON (a pydantic model is dumped)."""

    job_class = CustomJob
