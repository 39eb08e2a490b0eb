"""Testing a plugin without a hub.

Run a callback as the hub would have it run, from plain data or files: `run_export`,
`run_model`, `run_batch_model`, `run_markdown`, `run_file_explorer_list`,
`run_file_explorer_import` and `run_custom` build the job a hub would send, run it through
the SDK's own job runner (sync callbacks on the worker pool, async ones on the loop, config
validation, the type's finish step, logs and progress, cancel), serve its data paths from a
loopback stand-in for the hub, and return what the hub would have received: a `LocalRun`
(docs/how-to/testing-plugins.md).

And the seams under `serve()`: the SDK takes its network as a `Transport`;
`serve(plugin, transport=...)` runs a plugin against any object with `connect()` returning
a `Channel`, so a test can play the hub over in-memory queues (see tests/sdk/fakehub.py).
"""

from ango_plugins_sdk._local import (
    run_batch_model,
    run_custom,
    run_export,
    run_file_explorer_import,
    run_file_explorer_list,
    run_markdown,
    run_model,
)
from ango_plugins_sdk._local_data import image_size
from ango_plugins_sdk._local_run import (
    BatchModelRun,
    ExportRun,
    ImportRun,
    JobFailed,
    ListingRun,
    LocalRun,
    MarkdownRun,
    ModelRun,
    ProgressUpdate,
)
from ango_plugins_sdk._transport import Channel, ChannelClosed, HandshakeRejected, Transport

__all__ = [
    "BatchModelRun",
    "Channel",
    "ChannelClosed",
    "ExportRun",
    "HandshakeRejected",
    "ImportRun",
    "JobFailed",
    "ListingRun",
    "LocalRun",
    "MarkdownRun",
    "ModelRun",
    "ProgressUpdate",
    "Transport",
    "image_size",
    "run_batch_model",
    "run_custom",
    "run_export",
    "run_file_explorer_import",
    "run_file_explorer_list",
    "run_markdown",
    "run_model",
]
