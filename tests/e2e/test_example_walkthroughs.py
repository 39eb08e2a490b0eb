"""Each example's README walkthrough, run as written: from a fresh hub to a finished job.

An example README's runnable commands are its fenced blocks whose info string is
`bash walkthrough` (GitHub still highlights them as bash). This test takes them in order,
joins them into one script and runs it with `bash -euo pipefail` from the repository root,
as a reader pasting them into a terminal would, with:

- the repository's `.venv/bin` first on `PATH` (what the walkthrough's own
  `source .venv/bin/activate` does; that line runs too);
- `HUB_PORT`, `MOTO_PORT` and `WORK` set in the environment, which the walkthrough reads with
  defaults (`HUB_PORT=${HUB_PORT:-8000}`): a free loopback port each and a temporary
  directory, so that runs never collide; and `HUB_DATABASE_URL` as the suite's lane wants it
  (empty: SQLite in the data directory; or a PostgreSQL database of this test's own);
- no `HUB_*`, `PLUGIN_*`, `AWS_*` variables of the caller's.

One change to what the README says: each `pip install ...` line runs with `--dry-run`
appended. The line is resolved in full from the repository root (the `-e .` the requirements
files use, the index for the rest: this is what failed before, `plugin-hub` looked up on the
index), but nothing is reinstalled, so the shared virtual environment is never rewritten under
other processes using it. `test_requirements_resolve_from_the_repository` does the same for
every example's requirements file on its own.

The script runs in a process group of its own; whatever it started (the hub, plugins, moto)
is stopped with the group at the end, whether the script succeeded, failed or timed out.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.harness import REPO_ROOT, free_port

EXAMPLES = REPO_ROOT / "examples"
VENV_BIN = REPO_ROOT / ".venv" / "bin"
SCRIPT_TIMEOUT = 300.0
"""Seconds a whole walkthrough may take before it is stopped (a hang, not a slow machine)."""

BLOCK = re.compile(r"^```bash walkthrough[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
PIP_INSTALL = re.compile(r"^pip install .*$", re.MULTILINE)

# What each walkthrough prints at its end, when the job succeeded and its result is there.
OUTCOMES: dict[str, list[str]] = {
    "export": [
        '{"images":2,"annotations":1,"categories":["face"]}',
        '"bbox":[55,20,30,30]',
        "labels/portrait.txt",
        "labels/portrait-mirrored.txt",
        "0 0.437500000000 0.218750000000 0.187500000000 0.187500000000",
        "export walkthrough: done",
    ],
    "model": [
        '{"status":"succeeded","result":{"task_id":',
        '{"image":"astronaut.jpg","boxes":["face","eye","eye"]}',
        '{"total":3,"done":3,"failed":0,"predictions_written":2}',
        '{"image":"astronaut.jpg","boxes":["face","eye","eye","face"]}',
        '{"image":"astronaut-256.jpg","boxes":["face"]}',
        '{"image":"upside-down.jpg","boxes":[]}',
        "model walkthrough: done",
    ],
    "markdown": [
        '{"documents":8,"created":8,"skipped":0}',
        '{"task_count":8,"batches":["Accessories","Audio","Displays","Peripherals"]}',
        "# Quiet Mechanical Keyboard",
        '{"documents":8,"created":0,"skipped":8}',
        "markdown walkthrough: done",
    ],
    "file_explorer": [
        '{"folders":["july","june"],"files":["notes.txt"]}',
        '{"status":"succeeded","result":{"created":3,"skipped":0,"items":3},"error":null}',
        '{"external_id":"2024/june/hike.png","width":64,"height":48,"batches":["2024"]}',
        "file explorer walkthrough: done",
    ],
}


def walkthrough(example: str) -> str:
    """The README's `bash walkthrough` blocks, in order, as one script."""
    readme = (EXAMPLES / example / "README.md").read_text()
    blocks = BLOCK.findall(readme)
    assert blocks, f"examples/{example}/README.md has no ```bash walkthrough blocks"
    script = "\n".join(blocks)
    pip_lines = PIP_INSTALL.findall(script)
    assert f"pip install -r examples/{example}/requirements.txt" in pip_lines, pip_lines
    return PIP_INSTALL.sub(lambda match: f"{match.group(0)} --dry-run", script)


def walkthrough_env(work: Path, database_url: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("HUB_", "PLUGIN_", "AWS_", "PIP_REQUIRE"))
        and name not in {"BASH_ENV", "ENV", "VIRTUAL_ENV", "PYTHONPATH", "CDPATH"}
    }
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        HUB_PORT=str(free_port()),
        MOTO_PORT=str(free_port()),
        WORK=str(work),
        HUB_DATABASE_URL=database_url,
        # The hub's shorter heartbeat: a plugin stopped at the end is noticed sooner.
        HUB_HEARTBEAT_INTERVAL="0.5",
        NO_COLOR="1",
    )
    return env


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop the script's process group (its background hub, plugins, moto): TERM, then KILL."""
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
    if process.poll() is None:
        process.wait(5)


def logs_of(work: Path) -> str:
    parts = []
    for log in sorted(work.rglob("*.log")):
        text = log.read_text(errors="replace")
        parts.append(f"--- {log.relative_to(work)} (last 4000 characters)\n{text[-4000:]}")
    return "\n".join(parts)


@pytest.mark.timeout(SCRIPT_TIMEOUT + 60)
@pytest.mark.parametrize("example", sorted(OUTCOMES))
def test_walkthrough(example: str, tmp_path: Path, database_url: str) -> None:
    work = tmp_path / "work"
    work.mkdir()
    script = tmp_path / f"{example}-walkthrough.sh"
    script.write_text(walkthrough(example))
    process = subprocess.Popen(
        ["bash", "-euo", "pipefail", str(script)],
        cwd=REPO_ROOT,
        env=walkthrough_env(work, database_url),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stop_group ends all it started
    )
    try:
        try:
            output, _ = process.communicate(timeout=SCRIPT_TIMEOUT)
        except subprocess.TimeoutExpired:
            stop_group(process)
            output, _ = process.communicate()
            pytest.fail(
                f"the {example} walkthrough did not finish in {SCRIPT_TIMEOUT:.0f} s:\n"
                f"{output.decode(errors='replace')}\n{logs_of(work)}"
            )
    finally:
        stop_group(process)
    text = output.decode(errors="replace")
    report = f"--- output of {script.name}\n{text}\n{logs_of(work)}"
    assert process.returncode == 0, report
    for expected in OUTCOMES[example]:
        assert expected in text, f"missing {expected!r} in the output\n{report}"


@pytest.mark.parametrize("example", sorted(OUTCOMES))
def test_requirements_resolve_from_the_repository(example: str) -> None:
    """`pip install -r examples/X/requirements.txt`, run from the repository root, resolves:
    the SDK from the checkout (`-e .`), everything else from the index; nothing installed."""
    result = subprocess.run(
        [
            str(VENV_BIN / "pip"),
            "install",
            "--dry-run",
            "-r",
            f"examples/{example}/requirements.txt",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Would install" in result.stdout, result.stdout
    assert "plugin-hub-" in result.stdout, result.stdout
