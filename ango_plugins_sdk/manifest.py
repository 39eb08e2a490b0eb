"""A plugin's manifest: what the hub shows and runs, kept in the plugin's own folder.

The manifest is `plugin.toml` (a `[plugin]` table) or a `[tool.plugin-hub]` table in the
plugin's `pyproject.toml`, so a plugin's description lives in its repository, versioned with
its code. `plugin-hub plugin push` registers or updates the plugin from it; the SDK reads the
version from it at start-up. Reference: docs/manifest.md.

Only the standard library and pydantic: a plugin process reads this too.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from ango_plugins_sdk.protocol import JobType

MANIFEST_FILE = "plugin.toml"
PYPROJECT_FILE = "pyproject.toml"
README_FILE = "README.md"
KEY_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,99}$"
MAX_DETAILS = 100_000
MAX_FILE_BYTES = 4 * 1024 * 1024
"""Most bytes read from a file the manifest names (a config, a schema, the README)."""
MAX_PRESETS = 100

Text = Annotated[str, StringConstraints(strip_whitespace=True)]


class ManifestError(ValueError):
    """The manifest cannot be used: names the file, the key and how to fix it."""

    def __init__(self, file: Path | str, key: str, problem: str, fix: str = "") -> None:
        self.file = str(file)
        self.key = key
        self.problem = problem
        self.fix = fix
        where = f"{self.file}: {key}: " if key else f"{self.file}: "
        super().__init__(where + problem + (f" ({fix})" if fix else ""))


class Preset(BaseModel):
    """A predefined run config: the organization that pushes gets it as a named preset."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[Text, Field(min_length=1, max_length=200)]
    config: dict[str, Any] = {}


class Manifest(BaseModel):
    """A manifest as read: files it names (details, configs, presets) already loaded."""

    model_config = ConfigDict(extra="forbid")

    key: Annotated[str, Field(pattern=KEY_PATTERN)]
    name: Annotated[Text, Field(min_length=1, max_length=200)]
    type: JobType
    version: Annotated[Text, Field(min_length=1, max_length=100)] | None = None
    description: Annotated[Text, Field(max_length=2_000)] = ""
    details: Annotated[str, Field(max_length=MAX_DETAILS)] = ""
    banner_url: str = ""
    class_names: list[Annotated[Text, Field(min_length=1, max_length=200)]] = []
    public: bool = False
    listed: bool = False
    job_timeout_s: Annotated[float, Field(gt=0, le=7 * 24 * 3600)] | None = None
    default_config: dict[str, Any] = {}
    config_schema: dict[str, Any] | None = None
    presets: Annotated[list[Preset], Field(max_length=MAX_PRESETS)] = []
    entry_point: str = "plugin.py"
    source: Path = Path(MANIFEST_FILE)
    """The file the manifest was read from (not a manifest key)."""

    @field_validator("presets")
    @classmethod
    def _preset_names_unique(cls, presets: list[Preset]) -> list[Preset]:
        names = [preset.name for preset in presets]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"preset names must differ; {repeated[0]!r} is there twice")
        return presets

    @property
    def key_prefix(self) -> str:
        """How the file names its keys: `plugin.` in plugin.toml, `tool.plugin-hub.` in
        pyproject.toml (errors name keys as the author wrote them)."""
        return key_prefix(self.source)

    def error(self, key: str, problem: str, fix: str = "") -> ManifestError:
        """An error about one of this manifest's keys, named as in its file."""
        return ManifestError(self.source, self.key_prefix + key, problem, fix)


def key_prefix(file: Path) -> str:
    return "tool.plugin-hub." if file.name == PYPROJECT_FILE else "plugin."


def first_problem(exc: ValidationError) -> tuple[str, str]:
    """(the dotted key, the message) of a validation error's first problem."""
    first = exc.errors(include_url=False)[0]
    key = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "enum":
        message = f"{first['input']!r} is not a plugin type"
    elif first["type"] == "extra_forbidden":
        message = f"unknown key{_suggestion(key, Manifest.model_fields)}"
    return key, message


_FIXES = {
    "key": "a stable id of lowercase letters, digits, '.', '_' or '-', e.g. key = \"my-plugin\"",
    "type": "use one of " + ", ".join(t.value for t in JobType),
    "version": 'e.g. version = "1.0.0"',
    "job_timeout_s": "seconds of running time, more than 0 and at most a week",
}
_FILE_KEYS = ("default_config", "config_schema", "presets", "details")


def find_manifest(path: Path | str) -> Path:
    """The manifest file for `path`: the file itself, or in a folder its `plugin.toml`,
    else its `pyproject.toml` if that has a `[tool.plugin-hub]` table."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise ManifestError(path, "", "no such file or folder")
    if (path / MANIFEST_FILE).is_file():
        return path / MANIFEST_FILE
    pyproject = path / PYPROJECT_FILE
    if pyproject.is_file() and "plugin-hub" in _toml(pyproject).get("tool", {}):
        return pyproject
    raise ManifestError(
        path,
        "",
        f"no {MANIFEST_FILE}, and no [tool.plugin-hub] table in a {PYPROJECT_FILE}",
        "`plugin-hub init TYPE DIR` writes one; docs/manifest.md describes it",
    )


def load_manifest(path: Path | str) -> Manifest:
    """Read and check the manifest at `path` (a folder or the file); raises ManifestError."""
    file = find_manifest(path)
    document = _toml(file)
    prefix = key_prefix(file)
    if file.name == PYPROJECT_FILE:
        table = _pyproject_table(document)
    else:
        table = _plugin_table(file, document)
    if "source" in table:
        raise ManifestError(file, f"{prefix}source", "unknown key")
    table = {name: _loaded(file, prefix, name, value) for name, value in table.items()}
    if "details" not in table and (file.parent / README_FILE).is_file():
        table["details"] = _read_text(file, f"{prefix}details", file.parent / README_FILE)
    try:
        return Manifest.model_validate({**table, "source": file})
    except ValidationError as exc:
        key, problem = first_problem(exc)
        fix = _FIXES.get(key.split(".")[0], "")
        raise ManifestError(file, f"{prefix}{key}", problem, fix) from None


def manifest_version(*scripts: str | None) -> str | None:
    """The version in the manifest beside the running plugin, for what it reports to the hub.

    Looks at `PLUGIN_MANIFEST` if set (a bad one is an error), else beside each of `scripts`
    (the module that made the plugin), then beside the `__main__` module's file, then in the
    working directory; None if there is no manifest there."""
    named = os.environ.get("PLUGIN_MANIFEST")
    if named:
        return load_manifest(named).version
    main = getattr(sys.modules.get("__main__"), "__file__", None)
    folders = [Path(script).resolve().parent for script in (*scripts, main) if script]
    folders.append(Path.cwd())
    for folder in folders:
        try:
            file = find_manifest(folder)
        except ManifestError:
            continue
        return load_manifest(file).version
    return None


def _toml(file: Path) -> dict[str, Any]:
    try:
        with file.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(file, "", f"not valid TOML: {exc}") from None
    except OSError as exc:
        raise ManifestError(file, "", f"cannot read it: {exc.strerror}") from None


def _plugin_table(file: Path, document: dict[str, Any]) -> dict[str, Any]:
    table = document.get("plugin")
    if not isinstance(table, dict):
        raise ManifestError(
            file, "plugin", "there is no [plugin] table", 'start the file with "[plugin]"'
        )
    others = sorted(set(document) - {"plugin"})
    if others:
        raise ManifestError(file, others[0], "unknown table", "the manifest is one [plugin] table")
    if "key" not in table:
        raise ManifestError(file, "plugin.key", "missing", _FIXES["key"])
    return dict(table)


def _pyproject_table(document: dict[str, Any]) -> dict[str, Any]:
    table = dict(document.get("tool", {}).get("plugin-hub", {}))
    project = document.get("project", {})
    # The project's own metadata fills in what the table leaves out.
    for name, fallback in (("key", "name"), ("name", "name"), ("version", "version")):
        if name not in table and isinstance(project.get(fallback), str):
            table[name] = project[fallback].lower() if name == "key" else project[fallback]
    if "description" not in table and isinstance(project.get("description"), str):
        table["description"] = project["description"]
    return table


def _loaded(file: Path, prefix: str, name: str, value: Any) -> Any:
    """A key's value, with a file name replaced by the file's content for the keys that
    may name one (default_config = "default_config.json")."""
    if name not in _FILE_KEYS or not isinstance(value, str):
        return value
    target = file.parent / value
    if name == "details":
        return _read_text(file, prefix + name, target)
    try:
        return json.loads(_read_bytes(file, prefix + name, target))
    except json.JSONDecodeError as exc:
        raise ManifestError(file, prefix + name, f"{value} is not valid JSON: {exc}") from None


def _read_bytes(file: Path, key: str, target: Path) -> bytes:
    """A file the manifest names: inside the manifest's folder, and not too big. A manifest
    pushed from CI must not be able to publish any file of the machine (`/etc/...`,
    `../.env`) as a plugin's details."""
    folder = file.parent.resolve()
    resolved = target.resolve()
    if not resolved.is_relative_to(folder):
        raise ManifestError(
            file, key, f"{target.name} is outside the manifest's folder", "name a file inside it"
        )
    try:
        with resolved.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ManifestError(
            file,
            key,
            f"cannot read {resolved.relative_to(folder)}: {exc.strerror}",
            "paths are relative to the manifest's folder",
        ) from None
    if len(data) > MAX_FILE_BYTES:
        raise ManifestError(file, key, f"{target.name} is over {MAX_FILE_BYTES} bytes")
    return data


def _read_text(file: Path, key: str, target: Path) -> str:
    try:
        text = _read_bytes(file, key, target).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(file, key, f"{target.name} is not UTF-8 text: {exc}") from None
    if len(text) > MAX_DETAILS:
        raise ManifestError(
            file,
            key,
            f"{target.name} has {len(text)} characters, over {MAX_DETAILS}",
            "shorten it, or point details at a shorter file",
        )
    return text


def _suggestion(key: str, known: dict[str, Any]) -> str:
    import difflib

    close = difflib.get_close_matches(key.rsplit(".", 1)[-1], [k for k in known if k != "source"])
    return f" (did you mean {close[0]!r}?)" if close else ""


def slug(name: str) -> str:
    """A manifest key made from a plugin name: "Haar faces" -> "haar-faces"."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:100] or "plugin"
