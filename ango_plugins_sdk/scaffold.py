"""`plugin-hub init TYPE DIR`: a working plugin of a type, ready to test, push and run.

The files come from `templates/` in this package: the type's `plugin.py`, its test and its
default config, and what every plugin has (manifest, README, requirements, `.env.example`,
Dockerfile). A template marks what is filled in as `@@name@@`, a syntax no Python, TOML or
markdown in them uses.
"""

from __future__ import annotations

import json
import re
from importlib import metadata, resources
from pathlib import Path

from ango_plugins_sdk._version import __version__
from ango_plugins_sdk.manifest import slug
from ango_plugins_sdk.protocol import JobType

DEFAULT_HUB_URL = "http://127.0.0.1:8000"
_COMMON = {
    "plugin.toml.tmpl": "plugin.toml",
    "README.md.tmpl": "README.md",
    "requirements.txt.tmpl": "requirements.txt",
    "env.example.tmpl": ".env.example",
    "Dockerfile.tmpl": "Dockerfile",
    "gitignore.tmpl": ".gitignore",
    "dockerignore.tmpl": ".dockerignore",
}
_PER_TYPE = {
    "plugin.py.tmpl": "plugin.py",
    "test_plugin.py.tmpl": "test_plugin.py",
    "default_config.json": "default_config.json",
    "sample.png": "sample.png",
}
_DESCRIPTIONS = {
    JobType.EXPORT: "Exports a project's annotations as CSV.",
    JobType.MODEL: "Pre-labels one task's image with boxes.",
    JobType.BATCH_MODEL: "Pre-labels a project's images with boxes, in chunks.",
    JobType.FILE_EXPLORER: "Browses a folder on the plugin's machine and imports its images.",
    JobType.MARKDOWN: "Makes one markdown asset per CSV row from a template.",
    JobType.CUSTOM: "Greets whoever the job names.",
}
_MARK = re.compile(r"@@(\w+)@@")


class ScaffoldError(Exception):
    """The plugin cannot be written there (the folder is not empty, say)."""


def write_plugin(
    job_type: JobType, directory: Path | str, *, name: str | None = None
) -> list[Path]:
    """Write a plugin of `job_type` into `directory` (new or empty); returns the files."""
    target = Path(directory)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ScaffoldError(f"{target} exists and is not an empty folder; pick a new one")
    name = name or target.resolve().name.replace("_", " ").replace("-", " ").strip() or "plugin"
    if not name.isprintable() or any(c in name for c in '"\\') or len(name) > 200:
        raise ScaffoldError(
            f"{name!r} cannot be a plugin name here: up to 200 printable characters, "
            "without quotes or backslashes (it goes into the manifest and plugin.py)"
        )
    templates = resources.files("ango_plugins_sdk") / "templates"
    default_config = json.loads((templates / job_type.value / "default_config.json").read_text())
    values = {
        "name": name,
        "key": slug(name),
        "type": job_type.value,
        "description": _DESCRIPTIONS[job_type],
        "class_names_line": 'class_names = ["object"]\n'
        if job_type in (JobType.MODEL, JobType.BATCH_MODEL)
        else "",
        "preset_config": _inline_table(default_config),
        "sdk_requirement": sdk_requirement(),
        "hub_url": DEFAULT_HUB_URL,
    }
    sources = [(templates / "common" / src, dst) for src, dst in _COMMON.items()]
    sources += [(templates / job_type.value / src, dst) for src, dst in _PER_TYPE.items()]
    target.mkdir(parents=True, exist_ok=True)
    (target / "wheels").mkdir()
    (target / "wheels" / ".gitkeep").write_text("")  # the Dockerfile copies this folder
    written = []
    for source, destination in sources:
        if not source.is_file():
            continue
        path = target / destination
        if source.name.endswith(".tmpl"):
            path.write_text(_MARK.sub(lambda m: values[m.group(1)], source.read_text()))
        else:
            path.write_bytes(source.read_bytes())
        written.append(path)
    return written


def sdk_requirement() -> str:
    """The requirement line for the SDK as it is installed here: where it was installed from
    when that is a folder (a checkout; it is not on every index), else its version."""
    try:
        direct = metadata.distribution("plugin-hub").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        direct = None
    url = json.loads(direct).get("url", "") if direct else ""
    if url.startswith("file://"):
        return (
            "# Installed from a local folder: this line works on this machine; elsewhere use a\n"
            "# wheel of it (see Dockerfile) or `plugin-hub>=" + __version__ + "` from your index.\n"
            f"plugin-hub @ {url}"
        )
    return f"plugin-hub>={__version__}"


def _inline_table(config: dict[str, object]) -> str:
    """A flat JSON object as a TOML inline table (the templates' default configs are)."""
    items = []
    for key, value in config.items():
        if value is None:
            continue  # TOML has no null: a preset leaves the key to the default
        items.append(f"{key} = {json.dumps(value)}")
    return "{ " + ", ".join(items) + " }" if items else "{}"
