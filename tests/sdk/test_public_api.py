"""The SDK's public surface: pinned exports, no secret in reprs, run() and serve() entry."""

from __future__ import annotations

import base64
import inspect
import logging
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import ango_plugins_sdk
import ango_plugins_sdk.protocol
import ango_plugins_sdk.protocol.listing
import ango_plugins_sdk.testing
from ango_plugins_sdk import (
    BatchModelPlugin,
    ConfigurationError,
    CustomPlugin,
    ExportPlugin,
    FileExplorerPlugin,
    MarkdownPlugin,
    ModelPlugin,
    Plugin,
    run,
    serve,
)
from ango_plugins_sdk.protocol import JobType
from tests.sdk.fakehub import FakeHub, custom_plugin, serving

SDK_ALL = [
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

PROTOCOL_ALL = [
    "Accepted",
    "Ack",
    "BATCHING",
    "Backoff",
    "Batch",
    "Cancel",
    "CloseCode",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "Error",
    "ErrorCode",
    "Failed",
    "Heartbeat",
    "Hello",
    "HubMessage",
    "HubSession",
    "IllegalSessionMove",
    "IllegalTransition",
    "Job",
    "JobError",
    "JobRef",
    "JobStatus",
    "JobType",
    "Log",
    "LogRecord",
    "MESSAGE_TYPES",
    "MIN_MESSAGE_SIZE",
    "Message",
    "MessageTooLarge",
    "PROTOCOL_VERSION",
    "PROTOCOL_VERSIONS",
    "PluginMessage",
    "PluginSession",
    "Progress",
    "ProtocolError",
    "Release",
    "Result",
    "SessionState",
    "TERMINAL_STATUSES",
    "Welcome",
    "can_transition",
    "check_transition",
    "decode",
    "encode",
    "unbatched",
]

TESTING_SEAMS = ["Channel", "ChannelClosed", "HandshakeRejected", "Transport"]
TESTING_ALL = [
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

MODULES = [ango_plugins_sdk, ango_plugins_sdk.protocol, ango_plugins_sdk.testing]
MODULE_IDS = ["sdk", "protocol", "testing"]

PLUGIN_CLASSES = [
    (ExportPlugin, JobType.EXPORT),
    (ModelPlugin, JobType.MODEL),
    (BatchModelPlugin, JobType.BATCH_MODEL),
    (FileExplorerPlugin, JobType.FILE_EXPLORER),
    (MarkdownPlugin, JobType.MARKDOWN),
    (CustomPlugin, JobType.CUSTOM),
]


def noop(job: Any) -> None:
    return None


# --- exports --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "expected"),
    list(zip(MODULES, [SDK_ALL, PROTOCOL_ALL, TESTING_ALL], strict=True)),
    ids=MODULE_IDS,
)
def test_all_is_pinned(module: ModuleType, expected: list[str]) -> None:
    assert expected == sorted(expected)
    assert sorted(module.__all__) == expected
    assert len(set(module.__all__)) == len(module.__all__)


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_every_exported_name_is_importable(module: ModuleType) -> None:
    namespace: dict[str, Any] = {}
    exec(f"from {module.__name__} import *", namespace)  # noqa: S102 (a fixed statement)
    for name in module.__all__:
        assert getattr(module, name) is namespace[name]


@pytest.mark.parametrize("module", MODULES, ids=MODULE_IDS)
def test_nothing_public_hides_outside_all(module: ModuleType) -> None:
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert public - {"annotations"} <= set(module.__all__)


def test_the_test_seams_are_the_same_objects_at_the_sdks_root() -> None:
    # Their home is `testing`; the root keeps them for code that imported them from there.
    for name in TESTING_SEAMS:
        assert getattr(ango_plugins_sdk, name) is getattr(ango_plugins_sdk.testing, name)


def test_the_listing_shapes_are_the_protocols() -> None:
    # The hub checks a listing with the same classes a plugin builds it with.
    for name in ("FileEntry", "FolderEntry", "ImportItem", "ListingPage"):
        assert getattr(ango_plugins_sdk, name) is getattr(ango_plugins_sdk.protocol.listing, name)


def test_the_version_is_the_packages() -> None:
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    version = tomllib.loads(pyproject.read_text())["project"]["version"]
    assert ango_plugins_sdk.__version__ == version


@pytest.mark.parametrize(("cls", "job_type"), PLUGIN_CLASSES)
def test_each_plugin_class_names_its_job_type(cls: type[Plugin], job_type: JobType) -> None:
    plugin = cls(callback=noop, id="p", secret="s")
    assert plugin.job_type is job_type
    assert isinstance(plugin, Plugin)
    assert (plugin.concurrency, plugin.version, plugin.config_model) == (1, "0.0.0", None)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"callback": "not callable"}, TypeError),
        ({"callback": noop, "concurrency": 0}, ValueError),
        ({"callback": noop, "version": ""}, ValueError),
    ],
)
def test_a_plugin_refuses_bad_options(options: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        CustomPlugin(**options)


# --- secrets --------------------------------------------------------------------------


@given(
    cls=st.sampled_from([cls for cls, _ in PLUGIN_CLASSES]),
    secret=st.text(min_size=6, max_size=40).map(lambda tail: f"secret-{tail}"),
    plugin_id=st.one_of(st.none(), st.text(max_size=20)),
    version=st.text(min_size=1, max_size=10).filter(lambda v: "secret-" not in v),
)
def test_the_repr_of_a_plugin_never_shows_its_secret(
    cls: type[Plugin], secret: str, plugin_id: str | None, version: str
) -> None:
    plugin_id = None if plugin_id is None else plugin_id.replace("secret-", "")
    plugin = cls(callback=noop, id=plugin_id, secret=secret, version=version)
    for text in (repr(plugin), str(plugin), f"{plugin!r}", f"{[plugin]}"):
        assert secret not in text
        assert repr(secret) not in text
    assert repr(plugin_id) in repr(plugin)  # the repr is still useful


# --- run() and serve() ----------------------------------------------------------------


def test_run_exits_1_with_one_line_when_the_hub_refuses_the_secret(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # run() configures logging when the root logger has no handler; keep the global clean.
    monkeypatch.setattr(logging.getLogger(), "handlers", [logging.NullHandler()])
    hub = FakeHub()
    hub.refuse_next(401)
    with pytest.raises(SystemExit) as exited:
        run(custom_plugin(noop), "http://hub.test", transport=hub)
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("ango_plugins_sdk: ")
    assert "HTTP 401" in err
    assert "secret" not in err.replace("PLUGIN_SECRET", "").replace("bad secret", "")
    assert hub.connects == 1


@pytest.mark.parametrize(
    ("plugin", "env", "message"),
    [
        (CustomPlugin(callback=noop, secret="s"), {}, "PLUGIN_ID"),
        (CustomPlugin(callback=noop, id="p"), {}, "PLUGIN_SECRET"),
        (
            CustomPlugin(callback=noop, id="p", secret="s"),
            {"PLUGIN_RECONNECT_MAX_DELAY": "soon"},
            "PLUGIN_RECONNECT_MAX_DELAY",
        ),
        (
            CustomPlugin(callback=noop, id="p", secret="s"),
            {"PLUGIN_RECONNECT_MAX_DELAY": "-1"},
            "PLUGIN_RECONNECT_MAX_DELAY",
        ),
    ],
    ids=["no-id", "no-secret", "bad-delay", "negative-delay"],
)
def test_run_exits_1_on_a_configuration_error(
    plugin: Plugin,
    env: dict[str, str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(logging.getLogger(), "handlers", [logging.NullHandler()])
    for name in ("PLUGIN_ID", "PLUGIN_SECRET", "HUB_URL", "PLUGIN_RECONNECT_MAX_DELAY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    hub = FakeHub()
    with pytest.raises(SystemExit) as exited:
        run(plugin, "http://hub.test", transport=hub)
    assert exited.value.code == 1
    assert message in capsys.readouterr().err
    assert hub.connects == 0  # nothing dialled


async def test_serve_raises_configuration_error_without_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PLUGIN_ID", raising=False)
    monkeypatch.delenv("PLUGIN_SECRET", raising=False)
    with pytest.raises(ConfigurationError, match="PLUGIN_ID"):
        await serve(CustomPlugin(callback=noop), transport=FakeHub())


async def test_serve_reads_credentials_and_hub_url_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PLUGIN_ID", "env-id")
    monkeypatch.setenv("PLUGIN_SECRET", "env-secret")
    monkeypatch.setenv("HUB_URL", "https://env-hub.example:8443/")
    hub = FakeHub()
    async with serving(CustomPlugin(callback=noop), hub, host=None):
        channel = await hub.session(0)
    assert channel.url == "wss://env-hub.example:8443/ws/plugin"
    token = base64.b64encode(b"env-id:env-secret").decode()
    assert channel.headers["Authorization"] == f"Basic {token}"


async def test_serve_refuses_a_hub_url_without_a_scheme() -> None:
    # A ConfigurationError: `run()` prints it as one line, not a traceback.
    with pytest.raises(ConfigurationError, match="http:// or https://"):
        await serve(custom_plugin(noop), "hub.test:8000", transport=FakeHub())
