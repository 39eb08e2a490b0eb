"""A job type is one module on the hub's side: a toy type defined only in this test decides
its jobs' input, priority, data paths and outcome, with nothing else in the hub changed.

The wire protocol's job types are a closed list (a new one is a protocol change, like any
enum value), so the toy takes the place of `custom` in a hub built with it; the SDK's side
of the same claim is tests/sdk/test_job_types.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict
from starlette.testclient import TestClient

from ango_plugins_sdk.protocol import JobType
from hub.app import create_app
from hub.job_types import KINDS
from hub.job_types.base import Answer, DataPath, DataRequest, InvalidOutput, JobKind, Submission
from hub.jobs.engine import Applied
from hub.jobs.queue import INTERACTIVE
from hub.jobs.state import ActiveJob
from hub.paths import job_data_path
from hub.settings import Settings
from tests.hub.conftest import Owner, wait_until
from tests.hub.test_gateway import say_hello

pytestmark = pytest.mark.timeout(30)


class _Question(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str


class _Votes(BaseModel):
    votes: list[str]


class SurveyKind(JobKind):
    """Asks the plugin a question; the plugin posts votes to a data path, then answers."""

    type = JobType.CUSTOM
    label = "Survey"
    action = "Ask"
    votes: dict[str, list[str]] = {}

    def default_priority(self, operation: str | None) -> int:
        return INTERACTIVE

    async def prepare_input(self, submission: Submission) -> dict[str, Any]:
        return {"question": submission.parse(_Question).question.strip() + "?"}

    def data_paths(self) -> list[DataPath]:
        return [DataPath("POST", "votes", self._votes)]

    def io_paths(self, job: ActiveJob) -> dict[str, Any]:
        return {"votes_url": job_data_path(job.id, "votes")}

    async def _votes(self, request: DataRequest) -> Answer:
        sent = await request.json(_Votes)
        self.votes.setdefault(request.job.id, []).extend(sent.votes)
        return Answer({"counted": len(sent.votes)})

    def apply(self, job: ActiveJob, output: Any) -> Applied:
        if not isinstance(output, str):
            raise InvalidOutput("a survey's answer is a string")
        return Applied({"answer": output, "votes": sorted(self.votes.get(job.id, []))})


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    kinds = tuple(SurveyKind if kind.type is JobType.CUSTOM else kind for kind in KINDS)
    with TestClient(create_app(settings, kinds=kinds)) as c:
        yield c


def test_a_toy_type_decides_input_priority_data_paths_and_outcome(
    client: TestClient, acme: Owner, make_plugin: Any, connect: Any
) -> None:
    plugin = make_plugin(acme, type="custom")
    with connect(plugin["id"], plugin["secret"]) as ws:
        say_hello(ws, job_type="custom")
        response = client.post(
            f"/api/v1/plugins/{plugin['id']}/jobs",
            headers=acme.headers,
            json={"input": {"question": "  tea or coffee "}},
        )
        assert response.status_code == 202, response.text
        job = ws.receive_json()
        assert job["input"]["question"] == "tea or coffee?"
        io = job["input"]["io"]
        token = {"Authorization": f"Bearer {io['token']}"}
        ref = {"job_id": job["job_id"], "attempt": job["attempt"]}
        ws.send_json({"type": "accepted", **ref})
        voted = client.post(io["votes_url"], headers=token, json={"votes": ["tea", "coffee"]})
        assert voted.json() == {"counted": 2}
        # A path of another type is not this job's.
        wrong = client.get(job_data_path(job["job_id"], "tasks"), headers=token)
        assert wrong.status_code == 403
        ws.send_json({"type": "result", **ref, "output": "tea"})
        assert ws.receive_json()["type"] == "ack"

    def finished() -> dict[str, Any] | None:
        body: dict[str, Any] = client.get(
            f"/api/v1/jobs/{job['job_id']}", headers=acme.headers
        ).json()
        return body if body["status"] == "succeeded" else None

    done = wait_until(finished, what="the survey job succeeds")
    assert done["result"] == {"answer": "tea", "votes": ["coffee", "tea"]}
    assert done["priority"] == "interactive"
