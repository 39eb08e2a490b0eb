"""Job types, job statuses and the job state machine."""

from __future__ import annotations

import itertools

import pytest

from ango_plugins_sdk.protocol import (
    IllegalTransition,
    JobStatus,
    JobType,
    can_transition,
    check_transition,
)

Q, R, S, F, C = (
    JobStatus.QUEUED,
    JobStatus.RUNNING,
    JobStatus.SUCCEEDED,
    JobStatus.FAILED,
    JobStatus.CANCELLED,
)

LEGAL = {
    (Q, R),  # a connection takes it
    (Q, F),  # never ran: e.g. no attempts left, plugin deleted
    (Q, C),  # cancelled while waiting
    (R, Q),  # lease lapsed, or the plugin released it
    (R, S),
    (R, F),
    (R, C),
    (S, Q),  # retry
    (F, Q),
    (C, Q),
}
ALL_PAIRS = list(itertools.product(JobStatus, repeat=2))
ILLEGAL = [pair for pair in ALL_PAIRS if pair not in LEGAL]


def test_job_types_are_the_wire_names() -> None:
    assert [t.value for t in JobType] == [
        "export",
        "model",
        "batch_model",
        "file_explorer",
        "markdown",
        "custom",
    ]


def test_job_statuses_are_the_api_names() -> None:
    assert [s.value for s in JobStatus] == ["queued", "running", "succeeded", "failed", "cancelled"]


@pytest.mark.parametrize("status", list(JobStatus), ids=str)
def test_terminal_statuses(status: JobStatus) -> None:
    assert status.is_terminal is (status in {S, F, C})


def test_the_pairs_cover_every_combination() -> None:
    assert len(ALL_PAIRS) == 25
    assert len(ILLEGAL) == 15


@pytest.mark.parametrize(("current", "target"), sorted(LEGAL), ids=str)
def test_legal_transition(current: JobStatus, target: JobStatus) -> None:
    assert can_transition(current, target)
    assert check_transition(current, target) is target


@pytest.mark.parametrize(("current", "target"), ILLEGAL, ids=str)
def test_illegal_transition(current: JobStatus, target: JobStatus) -> None:
    assert not can_transition(current, target)
    with pytest.raises(IllegalTransition) as caught:
        check_transition(current, target)
    error = caught.value
    assert isinstance(error, ValueError)
    assert (error.current, error.target) == (current, target)
    expected = sorted(t for c, t in LEGAL if c is current)
    assert str(error) == (
        f"job cannot go from {current} to {target}: "
        f"expected one of {', '.join(expected)}, got {target}"
    )


def test_illegal_transition_message_reads_well() -> None:
    with pytest.raises(IllegalTransition, match=r"expected one of queued, got running$"):
        check_transition(S, R)
    with pytest.raises(
        IllegalTransition,
        match=r"from running to running: expected one of cancelled, failed, queued, succeeded, "
        r"got running$",
    ):
        check_transition(R, R)


def test_terminal_statuses_only_go_back_to_queued() -> None:
    for status in JobStatus:
        if status.is_terminal:
            assert [t for t in JobStatus if can_transition(status, t)] == [Q]
