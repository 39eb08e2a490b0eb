"""Reading a plugin's manifest: plugin.toml, pyproject's [tool.plugin-hub], the files it
names, and errors that name the file, the key and the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ango_plugins_sdk import CustomPlugin
from ango_plugins_sdk.manifest import ManifestError, load_manifest, manifest_version
from ango_plugins_sdk.protocol import JobType

FULL = """
[plugin]
key = "haar-faces"
name = "Haar faces"
type = "model"
version = "1.2.0"
description = "Boxes faces"
class_names = ["face", "eye"]
public = true
job_timeout_s = 90
default_config = "default_config.json"
config_schema = { type = "object", properties = { classes = { type = "array" } } }

[[plugin.presets]]
name = "Eyes too"
config = { classes = ["face", "eye"] }
"""


def write(folder: Path, text: str, name: str = "plugin.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder / name


def test_reads_every_key_and_the_files_it_names(tmp_path: Path) -> None:
    write(tmp_path, FULL)
    (tmp_path / "default_config.json").write_text(json.dumps({"classes": ["face"]}))
    (tmp_path / "README.md").write_text("# Haar faces\n\nDetails.")
    manifest = load_manifest(tmp_path)
    assert manifest.key == "haar-faces"
    assert manifest.type is JobType.MODEL
    assert manifest.version == "1.2.0"
    assert manifest.class_names == ["face", "eye"]
    assert manifest.default_config == {"classes": ["face"]}
    assert manifest.config_schema == {
        "type": "object",
        "properties": {"classes": {"type": "array"}},
    }
    assert [(p.name, p.config) for p in manifest.presets] == [
        ("Eyes too", {"classes": ["face", "eye"]})
    ]
    assert manifest.details == "# Haar faces\n\nDetails."  # the README, by default
    assert manifest.public is True
    assert manifest.job_timeout_s == 90
    assert manifest.source == tmp_path / "plugin.toml"


def test_details_may_name_another_file(tmp_path: Path) -> None:
    write(tmp_path, '[plugin]\nkey = "k"\nname = "N"\ntype = "custom"\ndetails = "ABOUT.md"\n')
    (tmp_path / "ABOUT.md").write_text("about")
    (tmp_path / "README.md").write_text("readme")
    assert load_manifest(tmp_path).details == "about"


def test_pyproject_table_falls_back_to_the_project_metadata(tmp_path: Path) -> None:
    write(
        tmp_path,
        '[project]\nname = "Acme-Export"\nversion = "2.0.1"\ndescription = "CSV out"\n\n'
        '[tool.plugin-hub]\ntype = "export"\nname = "Acme export"\n',
        "pyproject.toml",
    )
    manifest = load_manifest(tmp_path)
    assert (manifest.key, manifest.name, manifest.version, manifest.description) == (
        "acme-export",
        "Acme export",
        "2.0.1",
        "CSV out",
    )


def test_plugin_toml_wins_over_pyproject(tmp_path: Path) -> None:
    write(tmp_path, '[tool.plugin-hub]\nkey = "a"\nname = "A"\ntype = "export"\n', "pyproject.toml")
    write(tmp_path, '[plugin]\nkey = "b"\nname = "B"\ntype = "custom"\n')
    assert load_manifest(tmp_path).key == "b"


def test_a_manifest_file_may_be_named_directly(tmp_path: Path) -> None:
    path = write(tmp_path, '[plugin]\nkey = "b"\nname = "B"\ntype = "batch_model"\n', "batch.toml")
    assert load_manifest(path).type is JobType.BATCH_MODEL


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[plugin\n", "plugin.toml: not valid TOML"),
        ('[other]\nkey = "x"\n', "plugin.toml: plugin: there is no [plugin] table"),
        ('[plugin]\nname = "N"\ntype = "custom"\n', "plugin.toml: plugin.key: missing"),
        (
            '[plugin]\nkey = "k"\nname = "N"\ntype = "modle"\n',
            "plugin.toml: plugin.type: 'modle' is not a plugin type (use one of export,",
        ),
        (
            '[plugin]\nkey = "Not A Key"\nname = "N"\ntype = "custom"\n',
            "plugin.toml: plugin.key: String should match pattern",
        ),
        (
            '[plugin]\nkey = "k"\nname = "N"\ntype = "custom"\nversoin = "1"\n',
            "plugin.toml: plugin.versoin: unknown key (did you mean 'version'?)",
        ),
        (
            '[plugin]\nkey = "k"\nname = "N"\ntype = "custom"\ndefault_config = "nope.json"\n',
            "plugin.toml: plugin.default_config: cannot read nope.json",
        ),
        (
            '[plugin]\nkey = "k"\nname = "N"\ntype = "custom"\njob_timeout_s = -1\n',
            "plugin.toml: plugin.job_timeout_s: Input should be greater than 0",
        ),
        (
            '[plugin]\nkey = "k"\nname = "N"\ntype = "custom"\n[extra]\n',
            "plugin.toml: extra: unknown table",
        ),
    ],
)
def test_a_bad_manifest_names_the_file_the_key_and_the_problem(
    tmp_path: Path, text: str, message: str
) -> None:
    write(tmp_path, text)
    with pytest.raises(ManifestError) as caught:
        load_manifest(tmp_path)
    assert message in str(caught.value)


def test_a_default_config_file_that_is_not_json_says_so(tmp_path: Path) -> None:
    write(tmp_path, '[plugin]\nkey = "k"\nname = "N"\ntype = "custom"\ndefault_config = "c.json"\n')
    (tmp_path / "c.json").write_text("{nope")
    with pytest.raises(ManifestError, match=r"plugin.default_config: c.json is not valid JSON"):
        load_manifest(tmp_path)


def test_a_folder_without_a_manifest_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="plugin-hub init"):
        load_manifest(tmp_path)
    with pytest.raises(ManifestError, match="no such file or folder"):
        load_manifest(tmp_path / "missing")


def test_the_sdk_reports_the_manifest_version_beside_the_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "p", '[plugin]\nkey = "k"\nname = "N"\ntype = "custom"\nversion = "3.1"\n')
    assert manifest_version(str(tmp_path / "p" / "plugin.py")) == "3.1"
    monkeypatch.chdir(tmp_path)
    assert manifest_version(str(tmp_path / "elsewhere.py")) is None
    monkeypatch.setenv("PLUGIN_MANIFEST", str(tmp_path / "p" / "plugin.toml"))
    assert manifest_version() == "3.1"


def test_a_plugin_without_a_version_takes_the_manifests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, '[plugin]\nkey = "k"\nname = "N"\ntype = "custom"\nversion = "4.0.0"\n')
    monkeypatch.setenv("PLUGIN_MANIFEST", str(tmp_path / "plugin.toml"))
    assert CustomPlugin(callback=lambda job: None).version == "4.0.0"
    assert CustomPlugin(callback=lambda job: None, version="9").version == "9"
    monkeypatch.delenv("PLUGIN_MANIFEST")
    monkeypatch.chdir(tmp_path / "..")
    assert CustomPlugin(callback=lambda job: None).version == "0.0.0"


@pytest.mark.parametrize("named", ["../secret.txt", "/etc/hostname", "sub/../../secret.txt"])
def test_files_outside_the_manifest_folder_are_refused(tmp_path: Path, named: str) -> None:
    (tmp_path / "secret.txt").write_text("PLUGIN_SECRET=...")
    folder = tmp_path / "plugin"
    write(folder, f'[plugin]\nkey = "k"\nname = "N"\ntype = "custom"\ndetails = "{named}"\n')
    with pytest.raises(ManifestError, match=r"plugin.details: .* is outside the manifest's folder"):
        load_manifest(folder)


def test_an_oversized_file_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    write(tmp_path, '[plugin]\nkey = "k"\nname = "N"\ntype = "custom"\ndefault_config = "c.json"\n')
    (tmp_path / "c.json").write_bytes(b" " * (5 * 1024 * 1024))
    with pytest.raises(ManifestError, match=r"plugin.default_config: c.json is over"):
        load_manifest(tmp_path)


def test_presets_are_bounded_and_named_once(tmp_path: Path) -> None:
    base = '[plugin]\nkey = "k"\nname = "N"\ntype = "custom"\n'
    write(tmp_path, base + '[[plugin.presets]]\nname = "A"\n[[plugin.presets]]\nname = "A"\n')
    with pytest.raises(ManifestError, match=r"plugin.presets: preset names must differ; 'A'"):
        load_manifest(tmp_path)
    many = "".join(f'[[plugin.presets]]\nname = "p{i}"\n' for i in range(101))
    write(tmp_path, base + many)
    with pytest.raises(ManifestError, match=r"plugin.presets: List should have at most 100"):
        load_manifest(tmp_path)
