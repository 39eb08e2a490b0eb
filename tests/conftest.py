"""Markers by folder: every test under tests/e2e is `e2e`, every test under tests/browser is
`e2e` and `browser`. A `pytestmark` in a conftest.py marks nothing, so the folders' own
conftests cannot do it; this hook does, so that `-m "not e2e"` (the fast lane,
`scripts/check --fast`) really leaves out the tests that start real processes."""

from __future__ import annotations

from pathlib import Path

import pytest

_TESTS = Path(__file__).parent
_MARKS_BY_FOLDER = {
    _TESTS / "e2e": ("e2e",),
    _TESTS / "browser": ("e2e", "browser"),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for folder, marks in _MARKS_BY_FOLDER.items():
            if item.path.is_relative_to(folder):
                for mark in marks:
                    item.add_marker(mark)
