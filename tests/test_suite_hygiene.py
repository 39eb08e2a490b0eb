"""The suite's own rules: tests assert behaviour, not speed (speed is measured in bench/),
and the lanes select what they say (`-m "not e2e"` runs no real processes)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"

# An upper bound on a measured duration: `elapsed < 1.0`, `0.1 <= waited < 0.6`,
# `time.monotonic() - started < 2`, `wait_until(...) < 2.0`. Lower bounds (a timeout did not
# fire early) are behaviour and stay allowed.
SPEED_ASSERT = re.compile(
    r"assert .*(?:\b(?:elapsed|waited|took)\b\s*<|"
    r"(?:monotonic|perf_counter|time)\(\)\s*-\s*\w+\s*<|wait_until\(.*\)\s*<)"
)


def test_no_test_asserts_how_fast_something_happened() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted(TESTS.rglob("*.py"))
        if path.name != Path(__file__).name
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if SPEED_ASSERT.search(line)
    ]
    assert offenders == [], "speed belongs in bench/, not in tests:\n" + "\n".join(offenders)


def collect(*args: str) -> subprocess.CompletedProcess[str]:
    """`pytest --collect-only` with `args`, in a fresh process."""
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
    return subprocess.run(
        [*command, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_fast_lane_selects_no_end_to_end_or_browser_test() -> None:
    fast = collect("-m", "not e2e", "tests/e2e", "tests/browser")
    # Exit code 5: nothing collected, which is the point here.
    assert fast.returncode == 5, fast.stdout + fast.stderr
    slow = collect("-m", "e2e", "tests/e2e")
    assert slow.returncode == 0, slow.stdout + slow.stderr
    assert re.search(r"\d+ tests? collected", slow.stdout), slow.stdout


def test_every_hub_and_store_the_tests_build_takes_the_runs_database() -> None:
    """With HUB_TEST_DATABASE_URL the whole suite runs on PostgreSQL (tests/databases.py): a
    test's `Settings(data_dir=...)` must also say `database_url=` (the `database_url`
    fixture's, "" on SQLite), and no `Store(...)` may name a SQLite file of its own, or that
    test would stay on SQLite in a PostgreSQL run. (HubProcess takes it as a required
    argument.) tests/test_settings.py builds Settings to read them, not to run a hub."""
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        if path.name in ("test_settings.py", Path(__file__).name):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                continue
            keywords = {k.arg for k in node.keywords}
            source = ast.unparse(node)
            if node.func.id == "Settings" and "data_dir" in keywords:
                if "database_url" not in keywords:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {source}")
            elif node.func.id == "Store" and "sqlite" in source:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {source}")
    assert offenders == [], "\n".join(offenders)
