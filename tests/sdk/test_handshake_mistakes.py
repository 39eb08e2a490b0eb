"""What the SDK says about itself in `hello`, and one clear line for each way a plugin can be
pointed at the wrong place: a page or API path in HUB_URL, no scheme, https:// against a
plain hub, a process of the wrong type."""

from __future__ import annotations

import json
import ssl

import pytest

from ango_plugins_sdk import (
    ConfigurationError,
    ExportJob,
    ExportPlugin,
    ExportResult,
    PluginStopped,
)
from ango_plugins_sdk._connection import MAX_INCOMING_MESSAGE_SIZE, websocket_url
from ango_plugins_sdk.protocol import PROTOCOL_VERSION, Backoff, CloseCode, JobType
from tests.sdk.fakehub import PLUGIN_ID, SECRET, FakeChannel, FakeHub, custom_plugin, serving


async def echo(job: object) -> dict[str, str]:
    return {}


async def export_nothing(job: ExportJob) -> ExportResult:
    return ExportResult(file=b"", filename="nothing.bin", allow_empty=True)


class FirstDialFails(FakeHub):
    """A fake hub whose first dial raises `error`; the next ones reach it."""

    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error: BaseException | None = error

    async def connect(self, url: str, *, headers: dict[str, str], max_size: int) -> FakeChannel:
        if self.error is not None:
            self.connects += 1
            error, self.error = self.error, None
            raise error
        return await super().connect(url, headers=headers, max_size=max_size)


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("http://127.0.0.1:8000", "ws://127.0.0.1:8000/ws/plugin"),
        ("http://127.0.0.1:8000/", "ws://127.0.0.1:8000/ws/plugin"),
        ("https://hub.example.com", "wss://hub.example.com/ws/plugin"),
        # A hub under a prefix behind a proxy keeps its prefix.
        ("https://example.com/hub/", "wss://example.com/hub/ws/plugin"),
        ("http://127.0.0.1:8000/ws/plugin", "ws://127.0.0.1:8000/ws/plugin"),
        ("ws://127.0.0.1:8000", "ws://127.0.0.1:8000/ws/plugin"),
    ],
)
def test_websocket_url(host: str, url: str) -> None:
    assert websocket_url(host) == url


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost:8000", "hub.example.com", ""])
def test_a_hub_url_without_a_scheme_is_one_clear_configuration_error(host: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        websocket_url(host)
    message = str(error.value)
    assert "http://" in message
    assert f"did you mean 'http://{host}'" in message


@pytest.mark.parametrize("status", [403, 404])
async def test_no_plugin_endpoint_at_the_url_stops_with_the_fix(status: int) -> None:
    """A page or API path in HUB_URL: the server answers the upgrade with a bare 403/404,
    not the hub's JSON refusal. Not the credentials' fault, and retrying cannot help."""
    hub = FakeHub()
    hub.refuse_next(status, "")
    async with serving(custom_plugin(echo), hub, host="http://hub.test/signin") as served:
        with pytest.raises(PluginStopped) as stopped:
            await served.finished()
    message = str(stopped.value)
    assert "ws://hub.test/signin/ws/plugin" in message
    assert "without a page or API path" in message
    assert "PLUGIN_SECRET" not in message
    assert hub.connects == 1


async def test_https_against_a_plain_hub_stops_with_the_fix() -> None:
    error = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    error.reason = "WRONG_VERSION_NUMBER"
    hub = FirstDialFails(error)
    async with serving(custom_plugin(echo), hub, host="https://hub.test") as served:
        with pytest.raises(PluginStopped, match=r"use http:// instead of https://"):
            await served.finished()
    assert hub.connects == 1


async def test_other_tls_failures_are_retried() -> None:
    error = ssl.SSLError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    error.reason = "CERTIFICATE_VERIFY_FAILED"
    hub = FirstDialFails(error)
    async with serving(custom_plugin(echo), hub, host="https://hub.test"):
        await hub.session(0)
    assert hub.connects == 2


async def test_hello_names_the_job_type_and_the_largest_frame_the_process_takes() -> None:
    hub = FakeHub()
    async with serving(ExportPlugin(id=PLUGIN_ID, secret=SECRET, callback=export_nothing), hub):
        channel = await hub.session(0)
    hello = channel.first
    assert hello.job_type == JobType.EXPORT
    assert hello.max_message_size == MAX_INCOMING_MESSAGE_SIZE


async def test_a_job_type_mismatch_close_stops_the_plugin_with_the_hubs_line() -> None:
    hub = FakeHub()
    reason = "plugin is 'custom' but this process serves 'export' jobs"
    async with serving(
        ExportPlugin(id=PLUGIN_ID, secret=SECRET, callback=export_nothing), hub
    ) as served:
        channel = await hub.session(0)
        channel.hang_up(CloseCode.JOB_TYPE_MISMATCH, reason)
        with pytest.raises(PluginStopped) as stopped:
            await served.finished()
    assert reason in str(stopped.value)
    assert hub.connects == 1


async def test_a_hub_speaking_another_protocol_version_stops_the_plugin() -> None:
    hub = FakeHub()
    newer = hub.welcome(0).model_dump() | {"protocol": PROTOCOL_VERSION + 1}
    hub.first_frame_next(json.dumps(newer))
    async with serving(custom_plugin(echo), hub) as served:
        with pytest.raises(PluginStopped, match=f"the hub speaks protocol {PROTOCOL_VERSION + 1}"):
            await served.finished()
    assert hub.connects == 1


async def test_a_node_that_does_not_dispatch_is_tried_again_soon() -> None:
    """Behind a load balancer the next try may reach the dispatcher: the wait stays short,
    though the backoff asked for 100 s."""
    hub = FakeHub()
    body = json.dumps({"error": {"code": "not_dispatcher", "message": "retry"}})
    hub.refuse_next(503, body)
    hub.refuse_next(503, body)
    slow = Backoff(initial=100.0, maximum=100.0)
    async with serving(custom_plugin(echo), hub, backoff=slow):
        await hub.session(0)  # the two refusals opened no channel
    assert hub.connects == 3
