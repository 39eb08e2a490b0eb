"""A long poll (`GET /api/v1/jobs/{id}?wait=`) on a node that does not dispatch the job
answers once the dispatcher has stored the job's end."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from tests.cluster.conftest import Node, StartNode
from tests.cluster.test_nodes import api, custom_plugin_on_two_nodes, plugin_socket
from tests.hub.conftest import Owner
from tests.hub.test_gateway import say_hello
from tests.timing import PATIENCE

pytestmark = pytest.mark.timeout(60)


def test_a_long_poll_on_another_node_answers_when_the_job_ends(
    start_node: StartNode, owner: Callable[[Node], Owner]
) -> None:
    dispatcher, other, acme, plugin = custom_plugin_on_two_nodes(start_node, owner)
    job = api(other, acme, "POST", f"/plugins/{plugin['id']}/jobs", json={}).json()
    answers: list[dict[str, Any]] = []
    poll = threading.Thread(
        target=lambda: answers.append(
            api(other, acme, "GET", f"/jobs/{job['id']}?wait={PATIENCE}").json()
        )
    )
    poll.start()
    with plugin_socket(dispatcher, plugin) as ws:
        say_hello(ws, job_type="custom")
        sent = ws.receive_json()
        assert (sent["type"], sent["job_id"]) == ("job", job["id"])
        ws.send_json({"type": "accepted", "job_id": job["id"], "attempt": sent["attempt"]})
        ws.send_json(
            {"type": "result", "job_id": job["id"], "attempt": sent["attempt"], "output": {"n": 2}}
        )
        poll.join(PATIENCE)
    assert [(a["status"], a["result"]) for a in answers] == [("succeeded", {"n": 2})]
