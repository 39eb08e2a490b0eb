"""`ango_plugins_sdk.testing`: a callback run with no hub, through the SDK's own runner.

What every job type shares: sync and async callbacks, config validation, logs and progress,
errors with their traceback, cancel, timeout, and what the hub would have received.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from ango_plugins_sdk import CustomJob, CustomPlugin, ExportPlugin
from ango_plugins_sdk.protocol import Accepted, Failed, Log, Progress, Result
from ango_plugins_sdk.testing import JobFailed, LocalRun, ProgressUpdate, run_custom, run_export


class Greeting(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "world"
    times: int = 1


def greet(job: CustomJob[Greeting]) -> dict[str, Any]:
    return {"greeting": " ".join([f"hello, {job.config.name}"] * job.config.times)}


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_sync_callbacks_run_on_the_worker_pool_and_async_ones_on_the_loop(
    is_async: bool,
) -> None:
    seen: list[str] = []

    def where(job: CustomJob) -> dict[str, Any]:
        seen.append(threading.current_thread().name)
        return {"input": job.input, "operation": job.operation, "attempt": job.attempt}

    async def where_async(job: CustomJob) -> dict[str, Any]:
        asyncio.get_running_loop()  # on the loop: this would raise in a worker thread
        return where(job)

    plugin = CustomPlugin(callback=where_async if is_async else where)
    run = run_custom(plugin, input={"a": 1}, operation="stats", project_id="p1", attempt=3)

    assert run.status == "succeeded"
    assert run.succeeded
    assert run.output == {"input": {"a": 1, "project_id": "p1"}, "operation": "stats", "attempt": 3}
    assert run.error is None
    assert seen[0].startswith("plugin-job") != is_async
    assert run.raise_for_failure() is run


def test_the_config_is_validated_into_the_config_model() -> None:
    plugin = CustomPlugin(callback=greet, config_model=Greeting)
    assert run_custom(plugin, config={"name": "Ada", "times": 2}).output == {
        "greeting": "hello, Ada hello, Ada"
    }
    # A model instance is sent as its JSON, as a user would submit it.
    assert run_custom(plugin, config=Greeting(name="Bo")).output == {"greeting": "hello, Bo"}
    assert run_custom(plugin).output == {"greeting": "hello, world"}


def test_a_bad_config_fails_as_in_production_before_the_callback_runs() -> None:
    called: list[object] = []

    def never(job: CustomJob[Greeting]) -> None:
        called.append(job)

    run = run_custom(CustomPlugin(callback=never, config_model=Greeting), config={"nme": "x"})

    assert run.status == "failed"
    assert run.error is not None
    assert run.error.kind == "ConfigError"
    assert "unknown key 'nme' (did you mean 'name'?)" in run.error.message
    assert called == []
    assert [type(m) for m in run.messages] == [Failed]  # no `accepted`: it never started


def test_logs_and_progress_are_captured_as_the_hub_receives_them() -> None:
    def chatty(job: CustomJob) -> str:
        job.logger.debug("starting")
        for done in range(1, 51):
            job.progress(done, 50, f"{done} of 50")
        job.logger.warning("almost", extra={"fields": {"left": 0}})
        return "done"

    run = run_custom(CustomPlugin(callback=chatty))

    assert [(r.level, r.message) for r in run.logs] == [
        ("DEBUG", "starting"),
        ("WARNING", "almost"),
    ]
    assert run.logs[1].fields == {"left": 0}
    # Every update the callback made, in order...
    assert run.progress == [ProgressUpdate(n, 50, f"{n} of 50") for n in range(1, 51)]
    assert run.progress[-1] == (50.0, 50.0, "50 of 50")
    # ...of which the hub gets the latest of each flush, always the last one, before the result.
    sent = [m for m in run.messages if isinstance(m, Progress)]
    assert 1 <= len(sent) <= 50
    assert (sent[-1].current, sent[-1].total) == (50, 50)
    assert isinstance(run.messages[0], Accepted)
    assert isinstance(run.messages[-1], Result)
    assert all(isinstance(m, Log | Progress) for m in run.messages[1:-1])


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_a_callback_exception_fails_the_job_with_its_traceback(is_async: bool) -> None:
    def explode(job: CustomJob) -> None:
        raise KeyError("missing-column")

    async def explode_async(job: CustomJob) -> None:
        explode(job)

    run = run_custom(CustomPlugin(callback=explode_async if is_async else explode))

    assert run.status == "failed"
    assert run.output is None
    assert run.error is not None
    assert (run.error.kind, run.error.message) == ("KeyError", "'missing-column'")
    assert run.error.traceback is not None
    assert "in explode" in run.error.traceback
    assert run.logs[-1].level == "ERROR"
    assert run.logs[-1].message.startswith("callback failed")
    with pytest.raises(JobFailed, match="the job failed: KeyError") as caught:
        run.raise_for_failure()
    assert "in explode" in str(caught.value)
    assert caught.value.run is run


def test_a_sync_callback_sees_the_cancel_and_the_job_ends_cancelled() -> None:
    def patient(job: CustomJob) -> None:
        job.progress(1)
        if job.wait_cancelled(30):
            raise RuntimeError("stopped on request")

    run = run_custom(CustomPlugin(callback=patient), cancel_after=0.05)

    assert run.cancelled
    assert run.status == "cancelled"
    assert run.error is not None
    assert run.error.kind == "Cancelled"  # the runner's kind for an error after a cancel
    assert "stopped on request" in run.error.message


def test_an_async_callback_is_cancelled_where_it_awaits() -> None:
    async def sleepy(job: CustomJob) -> None:
        await asyncio.sleep(30)

    run = run_custom(CustomPlugin(callback=sleepy), cancel_after=0.05)

    assert run.status == "cancelled"
    assert run.error is not None
    assert (run.error.kind, run.error.message) == ("Cancelled", "cancelled by the hub")


def test_a_job_that_returns_despite_the_cancel_is_still_cancelled_as_on_the_hub() -> None:
    def stubborn(job: CustomJob) -> str:
        job.wait_cancelled(30)
        return "finished anyway"

    run = run_custom(CustomPlugin(callback=stubborn), cancel_after=0.05)

    # The runner reports a stop after a cancel; the hub marks the job cancelled either way.
    assert run.status == "cancelled"
    assert run.error is not None
    assert run.error.message.startswith("stopped after a cancel")


def test_a_job_over_its_timeout_fails_as_the_hub_fails_it() -> None:
    async def forever(job: CustomJob) -> None:
        await asyncio.sleep(30)

    run = run_custom(CustomPlugin(callback=forever), timeout=0.2)

    assert run.job.timeout_s == 0.2
    assert run.status == "failed"
    assert run.error is not None
    assert (run.error.kind, run.error.message) == ("Timeout", "timed out after 0.2s of running")


def test_a_result_that_is_not_json_fails_as_in_production() -> None:
    run = run_custom(CustomPlugin(callback=lambda job: {1, 2}))
    assert run.status == "failed"
    assert run.error is not None
    assert run.error.kind == "InvalidResult"


async def test_inside_a_running_loop_it_says_to_use_a_thread() -> None:
    plugin = CustomPlugin(callback=greet, config_model=Greeting)
    with pytest.raises(RuntimeError, match=r"asyncio\.to_thread"):
        run_custom(plugin)
    run = await asyncio.to_thread(run_custom, plugin, config={"name": "async test"})
    assert run.output == {"greeting": "hello, async test"}


def test_a_plugin_of_another_type_is_refused() -> None:
    with pytest.raises(TypeError, match="serves export jobs, not custom jobs"):
        run_custom(ExportPlugin(callback=lambda job: None))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="serves custom jobs, not export jobs"):
        run_export(CustomPlugin(callback=lambda job: None))  # type: ignore[arg-type]


def test_a_run_is_a_local_run_with_the_job_it_sent() -> None:
    run = run_custom(CustomPlugin(callback=lambda job: None), input={"x": [1]})
    assert isinstance(run, LocalRun)
    assert run.job.job_type == "custom"
    assert run.job.input == {"x": [1]}
    assert "io" not in run.job.input  # a custom job gets no data paths
    assert run.output is None
    assert run.succeeded


def test_the_stand_in_hub_answers_an_unreadable_request_with_an_error() -> None:
    """A request it cannot parse (a broken chunked body) gets a JSON 500, like the hub's
    errors, not a dropped connection."""
    import http.client
    import json as json_module

    from ango_plugins_sdk._local_io import LocalIO, LoopbackHub
    from ango_plugins_sdk.protocol import JobType

    io = LocalIO(JobType.EXPORT, "job", 1, "token")
    hub = LoopbackHub(io)
    try:
        port = int(hub.base_url.rsplit(":", 1)[1])
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.putrequest("PUT", io.paths()["upload"]["url"])  # type: ignore[index]
        connection.putheader("Authorization", "Bearer token")
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        connection.send(b"not-hex\r\n")
        response = connection.getresponse()
        assert response.status == 500
        assert "ValueError" in json_module.loads(response.read())["error"]["message"]
        connection.close()
    finally:
        hub.close()
