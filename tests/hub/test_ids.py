"""Ids: unique, time-ordered, and never shared by a forked child and its parent."""

from __future__ import annotations

import os
import re
import signal
import sys
import time

import pytest

from hub.security import new_id
from tests.timing import PATIENCE


def test_ids_are_24_hex_digits_unique_and_ordered_by_time() -> None:
    ids = [new_id() for _ in range(20_000)]  # several fetches of the random pool
    assert all(re.fullmatch(r"[0-9a-f]{24}", value) for value in ids)
    assert len(set(ids)) == len(ids)
    assert len({value[12:] for value in ids}) == len(ids)  # the random halves too
    assert [value[:12] for value in ids] == sorted(value[:12] for value in ids)


@pytest.mark.skipif(sys.platform == "win32", reason="fork")
def test_a_forked_child_draws_other_random_bits_than_its_parent() -> None:
    new_id()  # the pool holds bytes now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave at once
        os.write(write, new_id().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    parent = new_id()
    assert len(child) == 24
    assert child[12:] != parent[12:]


@pytest.mark.skipif(sys.platform == "win32", reason="fork")
def test_a_child_forked_while_the_pool_was_locked_still_makes_ids() -> None:
    from hub import security

    read, write = os.pipe()
    with security._random._lock:  # as another thread of the parent might hold it
        pid = os.fork()
        if pid == 0:
            os.write(write, new_id().encode())
            os._exit(0)
    os.close(write)
    deadline = time.monotonic() + PATIENCE
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError("the child hung on the lock it inherited")
        time.sleep(0.01)
    child = os.read(read, 64).decode()
    os.close(read)
    assert len(child) == 24
