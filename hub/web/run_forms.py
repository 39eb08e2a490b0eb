"""What a run form holds, and the job request it makes, for each plugin type.

`RunValues` is the form's state as text, the way the inputs show it: filled from the plugin
(or a preset) on first sight, from the posted form after an error or a project switch.
`job_request` turns a posted form into the `JobRequest` the job service checks; it only
shapes the input (docs/job-types.md), the service decides whether it is acceptable.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData

from ango_plugins_sdk.protocol import JobType
from hub.db import ConfigPreset, Plugin
from hub.services.errors import Invalid
from hub.services.jobs import JobRequest
from hub.web.pages import form_text
from hub.web.plugins import json_field

MAPPING_PREFIX = "map."
"""Class mapping selects are named `map.<model class>`; their value is a category id."""


@dataclass
class RunValues:
    config: str
    preset: str = ""
    project_id: str = ""
    loaded_project_id: str = ""
    """The project the page was drawn for: when the posted project differs, what depends on
    the project (task, mapping, filters) starts over from its defaults."""
    task_id: str = ""
    operation: str = ""
    input: str = "{}"
    stages: list[str] = field(default_factory=list)
    batches: list[str] = field(default_factory=list)
    class_mapping: dict[str, str] | None = None
    """Model class -> category id, or None for the default (same name)."""
    class_mapping_json: str = "{}"
    """The mapping as JSON, for model plugins that declare no class names."""
    overwrite: bool = True
    chunk_size: str = ""
    template: str = ""
    csv_file_id: str = ""
    folder: str = ""
    recursive: bool = False
    extensions: str = ""
    batch: str = ""
    dedupe: bool = False
    files_json: str = "[]"


def pretty(config: dict[str, Any]) -> str:
    return json.dumps(config, indent=2)


def initial_values(
    plugin: Plugin, *, preset: ConfigPreset | None, project_id: str, task_id: str
) -> RunValues:
    config = preset.config if preset is not None else plugin.default_config
    return RunValues(
        config=pretty(config or {}),
        preset=preset.name if preset is not None else "",
        project_id=project_id,
        task_id=task_id,
    )


def posted_values(form: FormData) -> RunValues:
    project_id = form_text(form, "project_id")
    loaded = form_text(form, "loaded_project_id")
    same_project = project_id == loaded
    return RunValues(
        config=form_text(form, "config"),
        preset=form_text(form, "preset"),
        project_id=project_id,
        loaded_project_id=loaded,
        task_id=form_text(form, "task_id") if same_project else "",
        operation=form_text(form, "operation"),
        input=form_text(form, "input"),
        stages=_texts(form, "stages") if same_project else [],
        batches=_texts(form, "batches") if same_project else [],
        class_mapping=_posted_mapping(form) if same_project else None,
        class_mapping_json=form_text(form, "class_mapping") or "{}",
        overwrite=form_text(form, "overwrite", "replace") != "merge",
        chunk_size=form_text(form, "chunk_size"),
        template=_template(form),
        csv_file_id=form_text(form, "csv_file_id"),
        folder=_raw_text(form, "folder"),
        recursive=form.get("recursive") == "on",
        extensions=form_text(form, "extensions"),
        batch=form_text(form, "batch"),
        dedupe=form.get("dedupe") == "on",
        files_json=form_text(form, "files") or "[]",
    )


def job_request(
    plugin: Plugin, form: FormData, *, csv_file_id: str, needs_project: bool
) -> JobRequest:
    """The request the posted form asks for; `Invalid` for what cannot even be read. A type
    with no form of its own posts the custom form: config, operation and input as JSON."""
    config = json_field(form, "config", required=True)
    project_id = form_text(form, "project_id") or None
    if project_id is None and needs_project:
        raise Invalid("choose a project")
    shape = _FORMS.get(JobType(plugin.type), _custom)
    config, operation, job_input = shape(_Posted(plugin, form, config, csv_file_id))
    return JobRequest(config=config, project_id=project_id, operation=operation, input=job_input)


@dataclass(frozen=True)
class _Posted:
    plugin: Plugin
    form: FormData
    config: dict[str, Any]
    csv_file_id: str


Shaped = tuple[dict[str, Any], str | None, dict[str, Any]]
"""(config, operation, input) of a job request."""


def _custom(posted: _Posted) -> Shaped:
    operation = form_text(posted.form, "operation") or None
    return posted.config, operation, json_field(posted.form, "input", required=True)


def _export(posted: _Posted) -> Shaped:
    return posted.config, None, _filters(posted.form)


def _model(posted: _Posted) -> Shaped:
    task_id = form_text(posted.form, "task_id")
    if not task_id:
        raise Invalid("choose a task")
    return posted.config, None, {"task_id": task_id, **_mapping_input(posted.plugin, posted.form)}


def _batch_model(posted: _Posted) -> Shaped:
    config = posted.config
    chunk_size = form_text(posted.form, "chunk_size")
    if chunk_size:
        config = {**config, "chunk_size": _whole_number(chunk_size, "chunk size")}
    return config, None, {**_filters(posted.form), **_mapping_input(posted.plugin, posted.form)}


def _file_explorer(posted: _Posted) -> Shaped:
    return posted.config, "import", _import_input(posted.form)


def _markdown(posted: _Posted) -> Shaped:
    if not posted.csv_file_id:
        raise Invalid("upload a CSV file")
    template = _template(posted.form)
    if not template.strip():
        raise Invalid("write a template")
    return posted.config, None, {"template": template, "csv_file_id": posted.csv_file_id}


_FORMS = {
    JobType.EXPORT: _export,
    JobType.MODEL: _model,
    JobType.BATCH_MODEL: _batch_model,
    JobType.FILE_EXPLORER: _file_explorer,
    JobType.MARKDOWN: _markdown,
}
"""The run forms of the types that have one of their own (templates/run/)."""


def default_mapping(class_names: list[str], categories: list[tuple[str, str]]) -> dict[str, str]:
    """Each model class to the category (id, name) of the same name, ignoring case."""
    by_name = {name.casefold(): category_id for category_id, name in categories}
    return {name: by_name[name.casefold()] for name in class_names if name.casefold() in by_name}


def _texts(form: FormData, name: str) -> list[str]:
    return [value.strip() for value in form.getlist(name) if isinstance(value, str) and value]


def _raw_text(form: FormData, name: str) -> str:
    """A field as typed: templates and folder keys keep their leading and trailing spaces."""
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def _template(form: FormData) -> str:
    # Browsers send a textarea's line breaks as CRLF; the template was typed with newlines.
    return _raw_text(form, "template").replace("\r\n", "\n")


def _posted_mapping(form: FormData) -> dict[str, str]:
    return {
        key.removeprefix(MAPPING_PREFIX): value.strip()
        for key, value in form.multi_items()
        if key.startswith(MAPPING_PREFIX) and isinstance(value, str)
    }


def _filters(form: FormData) -> dict[str, Any]:
    # An empty selection means every stage (or batch): the hub's null.
    return {"stages": _texts(form, "stages") or None, "batches": _texts(form, "batches") or None}


def _mapping_input(plugin: Plugin, form: FormData) -> dict[str, Any]:
    if plugin.class_names:
        mapping = {cls: category for cls, category in _posted_mapping(form).items() if category}
    else:
        mapping = json_field(form, "class_mapping", required=True)
    return {
        "class_mapping": mapping,
        "overwrite": form_text(form, "overwrite", "replace") != "merge",
    }


def _import_input(form: FormData) -> dict[str, Any]:
    try:
        files = json.loads(form_text(form, "files") or "[]")
    except ValueError:
        raise Invalid("the selected files could not be read; choose them again") from None
    if not isinstance(files, list) or not all(isinstance(key, str) for key in files):
        raise Invalid("the selected files could not be read; choose them again")
    return {
        "folder": _raw_text(form, "folder"),
        "recursive": form.get("recursive") == "on",
        "files": files,
        "extensions": [e for e in re.split(r"[\s,]+", form_text(form, "extensions")) if e],
        "batch": form_text(form, "batch") or None,
        "dedupe": form.get("dedupe") == "on",
    }


def _whole_number(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise Invalid(f"{what} must be a whole number") from None
