"""`plugin-hub init TYPE DIR`: a plugin of each type whose own tests pass right away."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ango_plugins_sdk.manifest import load_manifest
from ango_plugins_sdk.protocol import JobType
from ango_plugins_sdk.scaffold import ScaffoldError, sdk_requirement, write_plugin

EXPECTED = {
    "plugin.toml",
    "plugin.py",
    "test_plugin.py",
    "default_config.json",
    "requirements.txt",
    "README.md",
    ".env.example",
    "Dockerfile",
    ".gitignore",
    ".dockerignore",
}


@pytest.mark.parametrize("job_type", list(JobType))
def test_each_type_passes_its_own_test_right_after_init(job_type: JobType, tmp_path: Path) -> None:
    folder = tmp_path / f"my-{job_type.value}"
    written = write_plugin(job_type, folder)
    assert {path.name for path in written} >= EXPECTED
    manifest = load_manifest(folder)
    assert manifest.type is job_type
    assert manifest.key == f"my-{job_type.value.replace('_', '-')}"
    assert manifest.version == "0.1.0"
    assert manifest.details.startswith(f"# my {job_type.value.replace('_', ' ')}")
    assert [p.name for p in manifest.presets] == ["Default"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_plugin.py"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert " passed" in done.stdout


def test_the_image_never_gets_the_env_file(tmp_path: Path) -> None:
    write_plugin(JobType.CUSTOM, tmp_path / "x")
    ignored = (tmp_path / "x" / ".dockerignore").read_text().splitlines()
    assert ".env" in ignored


def test_init_refuses_a_folder_with_files(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(ScaffoldError, match="not an empty folder"):
        write_plugin(JobType.CUSTOM, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_the_name_can_be_given(tmp_path: Path) -> None:
    write_plugin(JobType.EXPORT, tmp_path / "x", name="Acme CSV export")
    manifest = load_manifest(tmp_path / "x")
    assert (manifest.name, manifest.key) == ("Acme CSV export", "acme-csv-export")


def test_requirements_point_at_where_the_sdk_came_from() -> None:
    line = sdk_requirement().splitlines()[-1]
    # This checkout is installed editable: the generated plugin installs the SDK from it.
    assert line == f"plugin-hub @ {Path(__file__).resolve().parents[2].as_uri()}"


@pytest.mark.parametrize("name", ['Say "hi"', "back\\slash", "line\nbreak", "x" * 201])
def test_a_name_that_would_break_the_files_is_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError, match="cannot be a plugin name"):
        write_plugin(JobType.CUSTOM, tmp_path / "x", name=name)
    assert not (tmp_path / "x").exists()
