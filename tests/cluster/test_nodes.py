"""Two hub nodes on one PostgreSQL database: one dispatches, any answers, and a dispatcher
that lost its lease writes nothing more."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import update
from starlette.testclient import WebSocketDenialResponse, WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from hub.cluster.node import SharedLocalStorage
from hub.db.cluster_tables import DispatcherLease
from tests.cluster.conftest import Node, StartNode
from tests.hub.conftest import Owner, basic_auth, wait_until
from tests.hub.test_batch_retry import ended, finished_run, project_with_tasks, work
from tests.hub.test_gateway import say_hello

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    from hub import security

    monkeypatch.setattr(security, "_SCRYPT_N", 2**4)


def two_nodes(start_node: StartNode) -> tuple[Node, Node]:
    """(dispatcher, other node)."""
    first, second = start_node(), start_node()
    assert {first.role(), second.role()} == {"dispatcher", "node"}
    return (first, second) if first.role() == "dispatcher" else (second, first)


def api(node: Node, owner: Owner, method: str, path: str, **kwargs: Any) -> Any:
    return node.client.request(method, f"/api/v1{path}", headers=owner.headers, **kwargs)


def custom_plugin_on_two_nodes(
    start_node: StartNode, owner: Callable[[Node], Owner]
) -> tuple[Node, Node, Owner, dict[str, Any]]:
    """(dispatcher, other node, an owner, a custom plugin registered through the other)."""
    dispatcher, other = two_nodes(start_node)
    acme = owner(other)
    plugin = api(other, acme, "POST", "/plugins", json={"name": "p", "type": "custom"}).json()
    return dispatcher, other, acme, plugin


def plugin_socket(node: Node, plugin: dict[str, Any]) -> WebSocketTestSession:
    return node.client.websocket_connect(
        "/ws/plugin", headers=basic_auth(plugin["id"], plugin["secret"])
    )


def close_code_of(ws: WebSocketTestSession) -> int:
    """Read frames until the hub closes the socket; its close code."""
    while True:
        try:
            ws.receive_json()
        except WebSocketDisconnect as closed:
            return closed.code


def job_status(node: Node, owner: Owner, job_id: str) -> Callable[[], str]:
    return lambda: str(api(node, owner, "GET", f"/jobs/{job_id}").json()["status"])


def test_one_node_dispatches_and_every_node_shows_its_processes(
    start_node: StartNode, owner: Callable[[Node], Owner]
) -> None:
    dispatcher, other, acme, plugin = custom_plugin_on_two_nodes(start_node, owner)

    with pytest.raises(WebSocketDenialResponse) as refused, plugin_socket(other, plugin):
        pytest.fail("a node that does not dispatch takes no plugin connection")
    assert refused.value.status_code == 503
    assert refused.value.json()["error"]["code"] == "not_dispatcher"

    with plugin_socket(dispatcher, plugin) as ws:
        say_hello(ws, job_type="custom", pid=777)

        def seen_by_other() -> bool:
            body = api(other, acme, "GET", f"/plugins/{plugin['id']}").json()
            return bool(body["live"] and body["connections"][0]["pid"] == 777)

        wait_until(seen_by_other, what="the other node shows the process")
    wait_until(
        lambda: not api(other, acme, "GET", f"/plugins/{plugin['id']}").json()["live"],
        what="the other node shows it gone",
    )


def test_jobs_changed_on_another_node_reach_the_plugin(
    start_node: StartNode, owner: Callable[[Node], Owner]
) -> None:
    dispatcher, other, acme, plugin = custom_plugin_on_two_nodes(start_node, owner)
    with plugin_socket(dispatcher, plugin) as ws:
        say_hello(ws, job_type="custom", capacity=2)
        submitted = api(other, acme, "POST", f"/plugins/{plugin['id']}/jobs", json={})
        assert submitted.status_code == 202, submitted.text
        job = ws.receive_json()
        assert (job["type"], job["job_id"], job["attempt"]) == ("job", submitted.json()["id"], 1)
        ref = {"job_id": job["job_id"], "attempt": 1}
        ws.send_json({"type": "accepted", **ref})
        wait_until(lambda: job_status(other, acme, job["job_id"])() == "running", what="running")

        # A cancel through the other node reaches the process at once.
        cancelled = api(other, acme, "POST", f"/jobs/{job['job_id']}/cancel")
        assert cancelled.status_code == 202, cancelled.text
        cancel = ws.receive_json()
        assert (cancel["type"], cancel["job_id"]) == ("cancel", job["job_id"])
        ws.send_json(
            {"type": "failed", **ref, "error": {"message": "stopped", "kind": "Cancelled"}}
        )
        assert ws.receive_json()["type"] == "ack"
        wait_until(lambda: job_status(other, acme, job["job_id"])() == "cancelled", what="cancel")

        # And a retry through it runs the job again, as attempt 2.
        retried = api(other, acme, "POST", f"/jobs/{job['job_id']}/retry")
        assert retried.status_code == 202, retried.text
        again = ws.receive_json()
        assert (again["type"], again["job_id"], again["attempt"]) == ("job", job["job_id"], 2)
        ref = {"job_id": job["job_id"], "attempt": 2}
        ws.send_json({"type": "result", **ref, "output": {"done": True}})
        assert ws.receive_json()["type"] == "ack"
        wait_until(lambda: job_status(other, acme, job["job_id"])() == "succeeded", what="done")
    body = api(other, acme, "GET", f"/jobs/{job['job_id']}").json()
    assert (body["result"], body["attempts"]) == ({"done": True}, 2)


def test_a_batch_run_retried_through_another_node_runs_its_failed_tasks(
    start_node: StartNode, owner: Callable[[Node], Owner]
) -> None:
    dispatcher, other = two_nodes(start_node)
    acme = owner(other)
    plugin = api(other, acme, "POST", "/plugins", json={"name": "b", "type": "batch_model"}).json()
    project_id, task_ids = project_with_tasks(other.client, acme, 4)
    with plugin_socket(dispatcher, plugin) as ws:
        say_hello(ws, job_type="batch_model", capacity=1)
        run = finished_run(
            other.client,
            acme,
            ws,
            plugin["id"],
            project_id,
            tasks=4,
            chunk_size=2,
            failing={task_ids[2]},
        )
        assert (run["result"]["done"], run["result"]["failed"]) == (3, 1)
        # The retry travels as a command to the dispatcher, which opens the run again.
        retried = api(other, acme, "POST", f"/jobs/{run['id']}/retry", json={"only_failed": True})
        assert retried.status_code == 202, retried.text
        (again,) = work(ws, 1)
        assert [t["task_id"] for t in again["input"]["tasks"]] == [task_ids[2]]
        done = ended(other.client, acme, run["id"])
    assert (done["status"], done["result"]["done"], done["result"]["failed"]) == (
        "succeeded",
        4,
        0,
    )
    assert len(done["result"]["history"]) == 1


def test_a_cancel_that_overtakes_the_adoption_of_its_job_still_cancels_it(
    start_node: StartNode, owner: Callable[[Node], Owner]
) -> None:
    """A job stored by another node waits for its adopt command; a cancel sent to the
    dispatcher meanwhile must not find "no such active job" and let it run."""
    dispatcher, other, acme, plugin = custom_plugin_on_two_nodes(start_node, owner)
    cluster = dispatcher.hub.cluster
    assert cluster is not None
    dispatcher.call(cluster._consumer.stop)  # the adopt command stays unapplied
    submitted = api(other, acme, "POST", f"/plugins/{plugin['id']}/jobs", json={}).json()
    cancelled = api(dispatcher, acme, "POST", f"/jobs/{submitted['id']}/cancel")
    assert cancelled.status_code == 202, cancelled.text
    assert job_status(other, acme, submitted["id"])() == "cancelled"


@pytest.mark.parametrize(("action", "close_code"), [("rotate", 4001), ("delete", 4002)])
def test_a_secret_rotated_or_a_plugin_deleted_on_another_node_closes_its_sockets(
    start_node: StartNode, owner: Callable[[Node], Owner], action: str, close_code: int
) -> None:
    dispatcher, other, acme, plugin = custom_plugin_on_two_nodes(start_node, owner)
    with plugin_socket(dispatcher, plugin) as ws:
        say_hello(ws, job_type="custom")
        queued = api(other, acme, "POST", f"/plugins/{plugin['id']}/jobs", json={}).json()
        assert ws.receive_json()["type"] == "job"
        if action == "rotate":
            assert api(other, acme, "POST", f"/plugins/{plugin['id']}/secret").status_code == 200
        else:
            assert api(other, acme, "DELETE", f"/plugins/{plugin['id']}").status_code == 204
        assert close_code_of(ws) == close_code
    if action == "delete":
        assert job_status(other, acme, queued["id"])() == "cancelled"


def test_a_dispatcher_that_lost_its_lease_writes_nothing_and_steps_down(
    start_node: StartNode, owner: Callable[[Node], Owner]
) -> None:
    dispatcher, other, acme, plugin = custom_plugin_on_two_nodes(start_node, owner)
    with plugin_socket(dispatcher, plugin) as ws:
        say_hello(ws, job_type="custom")

        async def steal() -> None:
            async with dispatcher.hub.store.write() as session:
                await session.execute(
                    update(DispatcherLease).values(
                        epoch=DispatcherLease.epoch + 1, holder="a-node-that-paused"
                    )
                )

        dispatcher.call(steal)
        # Its next write (this submit's) is refused, and it hands its plugins on. The submit
        # itself is not lost: it goes to the next dispatcher through the commands table.
        submitted = api(dispatcher, acme, "POST", f"/plugins/{plugin['id']}/jobs", json={})
        assert submitted.status_code == 202, submitted.text
        assert close_code_of(ws) == 1012
    wait_until(lambda: dispatcher.role() == "node", what="the old dispatcher steps down")
    # Once the stolen lease lapses unrenewed, a node takes it over, and the job waits there.
    wait_until(lambda: "dispatcher" in {dispatcher.role(), other.role()}, what="a new dispatcher")
    assert job_status(other, acme, submitted.json()["id"])() == "queued"


def test_a_dispatcher_stopping_hands_over_at_once(
    start_node: StartNode, owner: Callable[[Node], Owner]
) -> None:
    dispatcher, other = two_nodes(start_node)
    dispatcher.stop()
    wait_until(lambda: other.role() == "dispatcher", what="the other node takes over")


def test_local_storage_is_refused_beside_another_node(start_node: StartNode) -> None:
    start_node(storage_url="")
    with pytest.raises(SharedLocalStorage, match="HUB_STORAGE_URL=s3://"):
        start_node(storage_url="")


def test_without_a_configured_key_the_nodes_share_one_from_the_database(
    start_node: StartNode,
) -> None:
    first, second = start_node(secret_key=""), start_node(secret_key="")
    token = first.hub.tokens.issue("01a2514860627d27da651794", 1)
    grant = second.hub.tokens.verify(token)  # a job's data path served by another node
    assert (grant.job_id, grant.attempt) == ("01a2514860627d27da651794", 1)
    csrf = first.client.app.state.csrf  # type: ignore[attr-defined]
    other_csrf = second.client.app.state.csrf  # type: ignore[attr-defined]
    assert other_csrf.is_valid("a-session", csrf.token_for("a-session"))
    assert not (first.hub.settings.data_dir / "secret_key").exists()
