"""Plugin Hub SDK: write a plugin, connect it to the hub, serve jobs."""

from ango_plugins_sdk._connection import PluginStopped
from ango_plugins_sdk._export import ExportJob, ExportResult
from ango_plugins_sdk._http import HubHTTPError
from ango_plugins_sdk._job import BaseJob, CustomJob
from ango_plugins_sdk._markdown import MarkdownDocument, MarkdownJob
from ango_plugins_sdk._plugins import (
    BatchModelPlugin,
    CustomPlugin,
    ExportPlugin,
    FileExplorerPlugin,
    MarkdownPlugin,
    ModelPlugin,
    Plugin,
)
from ango_plugins_sdk._run import ConfigurationError, run, serve
from ango_plugins_sdk._transport import Channel, ChannelClosed, HandshakeRejected, Transport
from ango_plugins_sdk._version import __version__

__all__ = [
    "BaseJob",
    "BatchModelPlugin",
    "Channel",
    "ChannelClosed",
    "ConfigurationError",
    "CustomJob",
    "CustomPlugin",
    "ExportJob",
    "ExportPlugin",
    "ExportResult",
    "FileExplorerPlugin",
    "HandshakeRejected",
    "HubHTTPError",
    "MarkdownDocument",
    "MarkdownJob",
    "MarkdownPlugin",
    "ModelPlugin",
    "Plugin",
    "PluginStopped",
    "Transport",
    "__version__",
    "run",
    "serve",
]
