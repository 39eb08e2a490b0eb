"""PluginQueue: priority levels, round-robin between organizations, delayed jobs."""

from __future__ import annotations

from hub.jobs.queue import BATCH, INTERACTIVE, PRIORITIES, PluginQueue


def drain(queue: PluginQueue) -> list[str]:
    out = []
    while (job_id := queue.pop()) is not None:
        out.append(job_id)
    return out


def test_priority_names() -> None:
    assert PRIORITIES == {"interactive": INTERACTIVE, "batch": BATCH}
    assert INTERACTIVE < BATCH


def test_empty_queue_pops_none() -> None:
    queue = PluginQueue()
    assert queue.pop() is None
    assert len(queue) == 0
    assert queue.ready == 0
    assert queue.next_due() is None
    assert queue.release_due(1e12) == 0


def test_interactive_before_batch_whatever_the_order_of_submission() -> None:
    queue = PluginQueue()
    queue.push("b1", "org", BATCH)
    queue.push("b2", "org", BATCH)
    queue.push("i1", "org", INTERACTIVE)
    queue.push("b3", "other", BATCH)
    queue.push("i2", "other", INTERACTIVE)
    assert drain(queue) == ["i1", "i2", "b1", "b3", "b2"]


def test_an_interactive_job_pushed_later_jumps_the_batch_backlog() -> None:
    queue = PluginQueue()
    for n in range(5):
        queue.push(f"b{n}", "org", BATCH)
    assert queue.pop() == "b0"
    queue.push("i", "org", INTERACTIVE)
    assert queue.pop() == "i"
    assert queue.pop() == "b1"


def test_fairness_small_org_is_not_starved_by_a_big_backlog() -> None:
    queue = PluginQueue()
    for n in range(100):
        queue.push(f"a{n}", "A", BATCH)
    queue.push("b0", "B", BATCH)
    assert queue.pop() == "a0"
    assert queue.pop() == "b0"
    # B has nothing more: A gets every remaining turn, in order.
    assert drain(queue) == [f"a{n}" for n in range(1, 100)]


def test_round_robin_over_three_organizations() -> None:
    queue = PluginQueue()
    for org, count in (("A", 3), ("B", 2), ("C", 1)):
        for n in range(count):
            queue.push(f"{org}{n}", org, BATCH)
    assert drain(queue) == ["A0", "B0", "C0", "A1", "B1", "A2"]


def test_fifo_within_an_organization() -> None:
    queue = PluginQueue()
    ids = [f"j{n}" for n in range(20)]
    for job_id in ids:
        queue.push(job_id, "org", INTERACTIVE)
    assert drain(queue) == ids


def test_fifo_within_each_organization_while_interleaved() -> None:
    queue = PluginQueue()
    for n in range(10):
        queue.push(f"a{n}", "A", BATCH)
        queue.push(f"b{n}", "B", BATCH)
    out = drain(queue)
    assert [j for j in out if j.startswith("a")] == [f"a{n}" for n in range(10)]
    assert [j for j in out if j.startswith("b")] == [f"b{n}" for n in range(10)]


def test_delayed_job_invisible_until_due() -> None:
    queue = PluginQueue()
    queue.push_later("late", "org", BATCH, not_before=100.0)
    assert len(queue) == 1
    assert queue.ready == 0
    assert queue.pop() is None
    assert queue.next_due() == 100.0
    assert queue.release_due(99.999) == 0
    assert queue.pop() is None
    assert queue.release_due(100.0) == 1
    assert queue.ready == 1
    assert len(queue) == 1
    assert queue.next_due() is None
    assert queue.pop() == "late"
    assert len(queue) == 0


def test_released_job_goes_to_the_front_of_its_level_in_its_organization() -> None:
    queue = PluginQueue()
    queue.push("a1", "A", BATCH)
    queue.push("a2", "A", BATCH)
    queue.push("i1", "A", INTERACTIVE)
    queue.push_later("retry", "A", BATCH, not_before=5.0)
    assert queue.release_due(10.0) == 1
    # Interactive still first, then the released batch job ahead of older batch jobs.
    assert drain(queue) == ["i1", "retry", "a1", "a2"]


def test_next_due_is_the_earliest_delay() -> None:
    queue = PluginQueue()
    queue.push_later("x", "org", BATCH, not_before=30.0)
    queue.push_later("y", "org", BATCH, not_before=10.0)
    queue.push_later("z", "org", BATCH, not_before=20.0)
    assert queue.next_due() == 10.0
    assert queue.release_due(15.0) == 1
    assert queue.next_due() == 20.0
    assert queue.pop() == "y"
    assert queue.pop() is None


def test_released_job_is_at_the_front_of_its_level_across_organizations() -> None:
    queue = PluginQueue()
    queue.push("a1", "A", BATCH)
    queue.push("a2", "A", BATCH)
    queue.push_later("b-retry", "B", BATCH, not_before=1.0)
    queue.release_due(2.0)
    assert queue.pop() == "b-retry"


def test_jobs_released_together_keep_their_due_order() -> None:
    queue = PluginQueue()
    queue.push_later("first", "A", BATCH, not_before=1.0)
    queue.push_later("second", "A", BATCH, not_before=2.0)
    assert queue.release_due(3.0) == 2
    assert drain(queue) == ["first", "second"]


def test_remove_from_ready() -> None:
    queue = PluginQueue()
    queue.push("a1", "A", BATCH)
    queue.push("a2", "A", BATCH)
    queue.push("b1", "B", BATCH)
    assert queue.remove("a1") is True
    assert len(queue) == 2
    assert queue.ready == 2
    assert drain(queue) == ["a2", "b1"]


def test_remove_the_last_job_of_an_organization() -> None:
    queue = PluginQueue()
    queue.push("a1", "A", INTERACTIVE)
    queue.push("b1", "B", INTERACTIVE)
    queue.push("b2", "B", INTERACTIVE)
    assert queue.remove("a1") is True
    assert queue.ready == 2
    assert drain(queue) == ["b1", "b2"]
    # A comes back as a fresh organization and still gets served.
    queue.push("a2", "A", INTERACTIVE)
    assert queue.pop() == "a2"


def test_remove_from_delayed() -> None:
    queue = PluginQueue()
    queue.push_later("d1", "A", BATCH, not_before=10.0)
    queue.push_later("d2", "A", BATCH, not_before=5.0)
    queue.push_later("d3", "A", BATCH, not_before=7.0)
    queue.push("r", "A", BATCH)
    assert len(queue) == 4
    assert queue.remove("d2") is True
    assert len(queue) == 3
    assert queue.ready == 1
    assert queue.next_due() == 7.0  # still a valid heap
    assert queue.release_due(100.0) == 2
    assert sorted(drain(queue)) == ["d1", "d3", "r"]


def test_remove_unknown_job() -> None:
    queue = PluginQueue()
    queue.push("a", "A", BATCH)
    assert queue.remove("nope") is False
    assert len(queue) == 1
    assert queue.remove("a") is True
    assert queue.remove("a") is False
    assert len(queue) == 0
    assert queue.ready == 0


def test_len_and_ready_counts() -> None:
    queue = PluginQueue()
    queue.push("a", "A", BATCH)
    queue.push("b", "B", INTERACTIVE)
    queue.push_later("c", "A", BATCH, not_before=50.0)
    assert (len(queue), queue.ready) == (3, 2)
    queue.pop()
    assert (len(queue), queue.ready) == (2, 1)
    queue.release_due(50.0)
    assert (len(queue), queue.ready) == (2, 2)
    drain(queue)
    assert (len(queue), queue.ready) == (0, 0)
    assert not queue
