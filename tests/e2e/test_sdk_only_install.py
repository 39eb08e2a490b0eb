"""A real SDK-only install (`pip install .`, no extras) in a fresh virtual environment: the
`plugin-hub` command it gets writes a plugin with `init`, and the hub's commands say which
extra to install instead of dying on `ModuleNotFoundError: sqlalchemy`."""

from __future__ import annotations

import subprocess
import venv
from pathlib import Path

from tests.e2e.harness import REPO_ROOT


def test_the_sdk_only_install_has_a_working_plugin_hub_command(tmp_path: Path) -> None:
    env_dir = tmp_path / "sdk-only"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(REPO_ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    have_sqlalchemy = subprocess.run(
        [str(python), "-c", "import sqlalchemy"], capture_output=True, timeout=60, check=False
    )
    assert have_sqlalchemy.returncode != 0  # really without the hub's dependencies

    command = env_dir / "bin" / "plugin-hub"
    serve = subprocess.run(
        [str(command), "serve"], capture_output=True, text=True, timeout=60, check=False
    )
    assert serve.returncode == 2
    assert "pip install 'plugin-hub[hub]'" in serve.stderr
    assert "Traceback" not in serve.stderr

    made = subprocess.run(
        [str(command), "init", "custom", str(tmp_path / "greeter")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "greeter" / "plugin.toml").is_file()
    # The generated plugin imports with the SDK alone.
    imported = subprocess.run(
        [str(python), "-c", "import plugin; print(plugin.plugin.version)"],
        cwd=tmp_path / "greeter",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == "0.1.0"  # from the generated manifest
