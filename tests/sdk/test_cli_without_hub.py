"""An SDK-only install has the `plugin-hub` command too: `init` works, and the commands that
need the hub say which extra to install instead of dying on an import error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# What a hub-less install lacks, made unimportable in a fresh interpreter.
BLOCK = "import sys\nfor name in ('sqlalchemy', 'starlette', 'uvicorn'): sys.modules[name] = None\n"
RUN = BLOCK + "from hub.cli import main\nsys.exit(main(sys.argv[1:]))\n"


def plugin_hub(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RUN, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "args",
    [
        ["serve"],
        ["migrate"],
        ["admin", "create", "--email", "a@b.c", "--password", "x", "--org", "o"],
        ["plugin", "push", ".", "--org", "acme"],
    ],
)
def test_hub_commands_name_the_extra_to_install(args: list[str], tmp_path: Path) -> None:
    (tmp_path / "plugin.toml").write_text('[plugin]\nkey = "k"\nname = "N"\ntype = "custom"\n')
    done = plugin_hub(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert "pip install 'plugin-hub[hub]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_init_needs_only_the_sdk(tmp_path: Path) -> None:
    done = plugin_hub("init", "custom", "greeter", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "greeter" / "plugin.py").is_file()
    assert (tmp_path / "greeter" / "plugin.toml").is_file()
