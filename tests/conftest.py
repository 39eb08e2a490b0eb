"""Markers by folder: every test under tests/e2e is `e2e`, every test under tests/browser is
`e2e` and `browser`. A `pytestmark` in a conftest.py marks nothing, so the folders' own
conftests cannot do it; this hook does, so that `-m "not e2e"` (the fast lane,
`scripts/check --fast`) really leaves out the tests that start real processes.

And the database every hub, store and `plugin-hub serve` of the suite runs on: `database_url`
is "" (SQLite in the test's data dir) or, with HUB_TEST_DATABASE_URL, a fresh PostgreSQL
database of the test's own (tests/databases.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.databases import FALLBACK_SERVER, ON_POSTGRES, SWITCH, Databases, PostgresServer

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


# --- The database every hub and store of the suite runs on (tests/databases.py) -------------


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """The PostgreSQL server: `HUB_TEST_DATABASE_URL`'s, or for the tests about PostgreSQL
    itself, one on 127.0.0.1. They skip when none answers; with the switch on, the run fails."""
    url = os.environ.get(SWITCH) or FALLBACK_SERVER
    server = PostgresServer(url)
    try:
        server.connect()
    except Exception as exc:  # ImportError (no asyncpg), OSError, asyncpg's own errors
        server.close()
        shown = make_url(url).render_as_string(hide_password=True)
        reason = f"no PostgreSQL at {shown} ({type(exc).__name__}: {exc})"
        if ON_POSTGRES:
            pytest.fail(f"{SWITCH} is set but {reason}", pytrace=False)
        pytest.skip(f"{reason}; `pip install -e '.[postgres]'` and start one to run this")
    server.drop_stale()
    yield server
    server.close()


@pytest.fixture(scope="session")
def databases(request: pytest.FixtureRequest) -> Databases:
    """For fixtures of a wider scope than one test (a module's hub, say)."""
    return Databases(request.getfixturevalue("postgres") if ON_POSTGRES else None)


@pytest.fixture
def database_url(databases: Databases) -> Iterator[str]:
    """`Settings.database_url` for a test's hub, or a `Store`'s URL through
    `Settings.resolved_database_url` (or `tests.databases.store_url`): "" (SQLite in the data
    dir), or with `HUB_TEST_DATABASE_URL` a fresh PostgreSQL database with today's schema, this
    test's alone and dropped after it."""
    with databases.new() as url:
        yield url


@pytest.fixture
def empty_database_url(databases: Databases) -> Iterator[str]:
    """As `database_url`, but with no tables at all on PostgreSQL, for tests of what a hub
    does on a new database."""
    with databases.new(empty=True) as url:
        yield url


def pytest_report_header() -> str:
    if ON_POSTGRES:
        return f"databases: PostgreSQL, a fresh one per test ({SWITCH})"
    return f"databases: SQLite, one file per test (set {SWITCH} for PostgreSQL)"


@pytest.fixture(autouse=True)
def _no_plugin_settings_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's shell may set the SDK's variables; a test (and the plugin processes it
    starts, which copy os.environ) must not open a health port or read a manifest because
    of them."""
    for name in ("PLUGIN_HEALTH_PORT", "PLUGIN_HEALTH_HOST", "PLUGIN_MANIFEST"):
        monkeypatch.delenv(name, raising=False)
