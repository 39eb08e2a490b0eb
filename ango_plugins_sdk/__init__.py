"""Plugin Hub SDK: write a plugin, connect it to the hub, serve jobs."""

from ango_plugins_sdk._connection import PluginStopped
from ango_plugins_sdk._errors import ConfigurationError, RetryableError
from ango_plugins_sdk._explorer import FileExplorerJob
from ango_plugins_sdk._export import ExportJob, ExportResult
from ango_plugins_sdk._http import HubHTTPError
from ango_plugins_sdk._job import BaseJob, CustomJob
from ango_plugins_sdk._listing import FileEntry, FolderEntry, ImportItem, ListingPage
from ango_plugins_sdk._markdown import MarkdownDocument, MarkdownJob
from ango_plugins_sdk._model import AssetHandle, BatchModelJob, ModelJob, ModelTask
from ango_plugins_sdk._plugins import (
    BatchModelPlugin,
    CustomPlugin,
    ExportPlugin,
    FileExplorerPlugin,
    MarkdownPlugin,
    ModelPlugin,
    Plugin,
)
from ango_plugins_sdk._predictions import BBox, Classification, Point, Polygon, Prediction
from ango_plugins_sdk._run import run, serve
from ango_plugins_sdk._transport import Channel, ChannelClosed, HandshakeRejected, Transport
from ango_plugins_sdk._version import __version__

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
