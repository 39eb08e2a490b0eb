"""Plugin Hub SDK: write a plugin, connect it to the hub, serve jobs."""

from ango_plugins_sdk._connection import PluginStopped
from ango_plugins_sdk._custom import CustomJob, CustomPlugin
from ango_plugins_sdk._errors import ConfigurationError, InvalidConfig, RetryableError
from ango_plugins_sdk._explorer import FileExplorerJob, FileExplorerPlugin
from ango_plugins_sdk._export import ExportJob, ExportPlugin, ExportResult
from ango_plugins_sdk._http import HubHTTPError
from ango_plugins_sdk._job import BaseJob
from ango_plugins_sdk._markdown import MarkdownDocument, MarkdownJob, MarkdownPlugin
from ango_plugins_sdk._model import (
    AssetHandle,
    BatchModelJob,
    BatchModelPlugin,
    ModelJob,
    ModelPlugin,
    ModelTask,
)
from ango_plugins_sdk._plugins import Plugin
from ango_plugins_sdk._predictions import BBox, Classification, Point, Polygon, Prediction
from ango_plugins_sdk._run import run, serve
from ango_plugins_sdk._version import __version__
from ango_plugins_sdk.protocol.listing import FileEntry, FolderEntry, ImportItem, ListingPage

# The test seams' home is `ango_plugins_sdk.testing`; they stay here for existing imports.
from ango_plugins_sdk.testing import Channel, ChannelClosed, HandshakeRejected, Transport

__all__ = [
    "AssetHandle",
    "BBox",
    "BaseJob",
    "BatchModelJob",
    "BatchModelPlugin",
    "Channel",
    "ChannelClosed",
    "Classification",
    "ConfigurationError",
    "CustomJob",
    "CustomPlugin",
    "ExportJob",
    "ExportPlugin",
    "ExportResult",
    "FileEntry",
    "FileExplorerJob",
    "FileExplorerPlugin",
    "FolderEntry",
    "HandshakeRejected",
    "HubHTTPError",
    "ImportItem",
    "InvalidConfig",
    "ListingPage",
    "MarkdownDocument",
    "MarkdownJob",
    "MarkdownPlugin",
    "ModelJob",
    "ModelPlugin",
    "ModelTask",
    "Plugin",
    "PluginStopped",
    "Point",
    "Polygon",
    "Prediction",
    "RetryableError",
    "Transport",
    "__version__",
    "run",
    "serve",
]
