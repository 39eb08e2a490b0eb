"""examples/markdown: the templating rules (pure) and the plugin's callback (with a fake job).

The example is a directory of scripts, not a package, so its modules are loaded by path.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import itertools
import json
import logging
import math
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from ango_plugins_sdk import InvalidConfig
from ango_plugins_sdk.testing import run_markdown

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "markdown"


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pydantic look their module up by name
    spec.loader.exec_module(module)
    return module


templating = _load("markdown_example_templating", EXAMPLE / "templating.py")
TemplateError = templating.TemplateError


def _load_plugin() -> ModuleType:
    # plugin.py does `from templating import ...` (its own directory is on sys.path when it runs
    # as a script); hand it the module loaded above, then put sys.modules back.
    saved = sys.modules.get("templating")
    sys.modules["templating"] = templating
    try:
        return _load("markdown_example_plugin", EXAMPLE / "plugin.py")
    finally:
        if saved is None:
            del sys.modules["templating"]
        else:
            sys.modules["templating"] = saved


plugin = _load_plugin()


def _csv_rows(text: str) -> list[dict[str, Any]]:
    """Rows exactly as the SDK's `MarkdownJob.rows()` gives them (csv.DictReader)."""
    return list(csv.DictReader(io.StringIO(text)))


def _csv_text(header: list[str], rows: Iterable[Iterable[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


# --- placeholders -----------------------------------------------------------------------------


def test_placeholders_tolerate_whitespace_and_are_listed_once_in_order() -> None:
    template = "{{name}} {{ name }} {{  price\t}}\n{{ Unit price }} {{name}} {{price}}"
    assert templating.parse_placeholders(template) == ["name", "price", "Unit price"]


def test_no_placeholders_and_lone_closing_braces_are_plain_text() -> None:
    assert templating.parse_placeholders("# Title\n}} { } {x}") == []
    assert templating.render("# Title\n}} { } {x}", {"x": "no"}) == "# Title\n}} { } {x}"


def test_four_open_braces_are_a_literal_double_brace() -> None:
    template = "{{{{name}} is written as {{{{ name }}: {{name}}"
    assert templating.parse_placeholders(template) == ["name"]
    assert templating.render(template, {"name": "Ada"}) == "{{name}} is written as {{ name }}: Ada"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("# {{ name", "unclosed placeholder at line 1, column 3"),
        ("ok\n  {{ }}", "empty placeholder '{{ }}' at line 2, column 3"),
        ("{{{name}}}", "cannot contain braces"),
        ("{{ a\nb }}", "spans lines"),
    ],
)
def test_bad_syntax_says_what_and_where(template: str, expected: str) -> None:
    with pytest.raises(TemplateError, match=expected.replace("{", r"\{").replace("}", r"\}")):
        templating.parse_placeholders(template)


# --- checking the template against the CSV's columns ----------------------------------------


def test_check_template_passes_when_every_column_exists() -> None:
    templating.check_template("{{a}} {{ b }}", ["b", "a", "unused"])


def test_missing_columns_error_lists_every_one_and_the_columns_available() -> None:
    template = "{{ name }} {{ Price }} {{sku}} {{name}} {{ colour }}"
    with pytest.raises(TemplateError) as caught:
        templating.check_template(template, ["name", "price", "description"])
    error = caught.value
    assert error.missing == ["Price", "sku", "colour"]
    assert error.available == ["name", "price", "description"]
    assert str(error) == (
        "the template uses 3 columns not in the CSV: 'Price', 'sku', 'colour'. "
        "The CSV's columns are: 'name', 'price', 'description'. "
        "Did you mean 'price' for 'Price'?"
    )


def test_missing_column_with_a_header_of_extra_fields_ignores_the_none_key() -> None:
    # csv.DictReader puts a long row's extra fields under the key None.
    (row,) = _csv_rows("a\n1,2,3\n")
    assert None in row
    with pytest.raises(TemplateError, match=r"columns are: 'a'\.$"):
        templating.check_template("{{a}}{{b}}", row.keys())


# --- rendering: values go in literally, once ---------------------------------------------------

TRICKY = (
    "{{other}} <script>alert(1)</script> **bold** [x](javascript:alert(1)) "
    "naïve 日本語 🙂 ‮\nsecond line\r\n{{{{other}} {0} %s $name"
)


def test_values_are_inserted_literally_once_without_escaping() -> None:
    template = "A: {{ value }}\nB: {{other}}\n"
    row = {"value": TRICKY, "other": "OTHER"}
    assert templating.render(template, row) == f"A: {TRICKY}\nB: OTHER\n"


def test_a_value_naming_its_own_column_does_not_recurse() -> None:
    assert templating.render("{{a}}", {"a": "{{a}}{{a}}"}) == "{{a}}{{a}}"


def test_format_and_jinja_syntax_in_the_template_is_plain_text() -> None:
    template = "{0} {name!r} {% if x %}{{ name }}{% endif %} %(name)s ${name}"
    assert templating.render(template, {"name": "N", "x": "X"}) == (
        "{0} {name!r} {% if x %}N{% endif %} %(name)s ${name}"
    )


def test_a_csv_round_trip_keeps_every_character() -> None:
    text = _csv_text(["value"], [[TRICKY]])
    (row,) = _csv_rows(text)
    assert templating.render("<{{value}}>", row) == f"<{TRICKY}>"


def test_a_missing_value_renders_as_an_empty_string() -> None:
    # A short CSV line: DictReader fills the missing fields with None.
    (row,) = _csv_rows("a,b,c\nonly a\n")
    assert row == {"a": "only a", "b": None, "c": None}
    assert templating.render("[{{a}}|{{b}}|{{ c }}]", row) == "[only a||]"
    # A key absent from the mapping, and pandas' NaN, are missing values too.
    assert templating.render("[{{a}}|{{b}}]", {"a": math.nan}) == "[|]"
    # An empty field is an empty string already; other types are shown as text.
    assert templating.render("[{{a}}|{{b}}]", {"a": "", "b": 3}) == "[|3]"


# --- external ids ------------------------------------------------------------------------------


def test_external_id_joins_several_columns_trimmed() -> None:
    row = {"store": " berlin ", "sku": "KB-101", "size": "L", "other": "x"}
    assert templating.external_id_for(row, ["store", "sku", "size"]) == "berlin-KB-101-L"
    assert templating.external_id_for(row, ["sku", "store"], separator="/") == "KB-101/berlin"
    assert templating.external_id_for(row, ["sku"]) == "KB-101"


def test_external_id_keeps_the_position_of_an_empty_part_and_is_none_when_all_are_empty() -> None:
    assert templating.external_id_for({"a": "1", "b": "", "c": "3"}, ["a", "b", "c"]) == "1--3"
    assert templating.external_id_for({"a": " ", "b": None}, ["a", "b", "c"]) is None


def test_external_id_needs_a_list_of_columns() -> None:
    with pytest.raises(ValueError, match="at least one column"):
        templating.external_id_for({"a": "1"}, [])
    with pytest.raises(TypeError, match="not a str"):
        templating.external_id_for({"a": "1"}, "a")


# --- documents ---------------------------------------------------------------------------------


def test_documents_take_batch_and_external_id_from_their_columns() -> None:
    rows = _csv_rows("id,team,title\n1,alpha,First\n2, beta ,Second\n3,,Third\n")
    docs = list(
        templating.documents(rows, "# {{title}}", batch_column="team", id_columns=["team", "id"])
    )
    assert docs == [
        ("# First", "alpha-1", "alpha"),
        ("# Second", "beta-2", "beta"),
        ("# Third", "-3", None),
    ]


def test_documents_without_batch_or_id_columns_have_none() -> None:
    assert list(templating.documents([{"a": "x"}], "{{a}}")) == [("x", None, None)]


def test_documents_check_columns_on_the_first_row_before_producing_anything() -> None:
    consumed: list[int] = []

    def rows() -> Iterator[dict[str, str]]:
        for i in itertools.count():
            consumed.append(i)
            yield {"id": str(i), "title": "t"}

    docs = templating.documents(
        rows(), "{{title}} {{ body }}", batch_column="team", id_columns=["id", "sku"]
    )
    with pytest.raises(TemplateError) as caught:
        next(docs)
    assert consumed == [0]
    assert caught.value.missing == ["body", "team", "sku"]
    assert str(caught.value) == (
        "3 columns not in the CSV: 'body' (in template), 'team' (in batch_column), "
        "'sku' (in id_columns). The CSV's columns are: 'id', 'title'."
    )


def test_documents_reject_bad_syntax_at_once_even_without_rows() -> None:
    with pytest.raises(TemplateError, match="unclosed"):
        templating.documents([], "{{ oops")
    assert list(templating.documents([], "{{ fine }}")) == []


def test_documents_are_produced_lazily_one_row_at_a_time() -> None:
    consumed: list[int] = []

    def rows() -> Iterator[dict[str, str]]:
        for i in itertools.count():
            consumed.append(i)
            yield {"n": str(i)}

    first_three = list(itertools.islice(templating.documents(rows(), "n={{n}}"), 3))
    assert [markdown for markdown, _, _ in first_three] == ["n=0", "n=1", "n=2"]
    assert consumed == [0, 1, 2]


def test_a_thousand_row_csv_makes_a_thousand_documents_with_their_values_and_batches() -> None:
    teams = ["billing", "shipping", "returns", "other"]
    source = [
        [
            f"T-{i:04d}",
            f"cust{i % 37}",
            teams[i % 4],
            f"Subject {i}, with a comma",
            f'Body {i}: "quoted" <b>{i}</b>\nline two {{{{ticket}}}}',
        ]
        for i in range(1000)
    ]
    text = _csv_text(["ticket", "customer", "team", "subject", "body"], source)
    template = "## {{ subject }}\n\n*{{customer}}* · {{ team }}\n\n{{ body }}\n"
    docs = list(
        templating.documents(
            csv.DictReader(io.StringIO(text)),
            template,
            batch_column="team",
            id_columns=("ticket", "customer"),
        )
    )
    assert len(docs) == 1000
    for (ticket, customer, team, subject, body), (markdown, external_id, batch) in zip(
        source, docs, strict=True
    ):
        assert markdown == f"## {subject}\n\n*{customer}* · {team}\n\n{body}\n"
        assert external_id == f"{ticket}-{customer}"
        assert batch == team
    assert len({external_id for _, external_id, _ in docs}) == 1000
    counts = {team: sum(1 for _, _, batch in docs if batch == team) for team in teams}
    assert counts == dict.fromkeys(teams, 250)


def test_empty_rows_are_skipped_only_when_asked() -> None:
    rows = _csv_rows("a,b\n1,x\n,\n \t, \n2,y\n")
    assert len(rows) == 4  # DictReader drops blank lines itself, but not ",," lines
    kept = list(templating.documents(rows, "{{a}}{{b}}", skip_empty=True))
    assert [markdown for markdown, _, _ in kept] == ["1x", "2y"]
    every = list(templating.documents(rows, "{{a}}{{b}}"))
    assert [markdown for markdown, _, _ in every] == ["1x", "", " \t ", "2y"]
    assert templating.is_empty_row({"a": " ", "b": None, None: ["ignored extra"]})


# --- the sample shipped with the example -------------------------------------------------------


def test_the_sample_template_fits_the_sample_csv() -> None:
    template = (EXAMPLE / "sample_template.md").read_text(encoding="utf-8")
    text = (EXAMPLE / "sample.csv").read_text(encoding="utf-8")
    rows = _csv_rows(text)
    templating.check_template(template, rows[0].keys())
    docs = list(templating.documents(rows, template, batch_column="category", id_columns=["sku"]))
    assert len(docs) == len(rows) == 8
    markdown, external_id, batch = docs[3]
    assert markdown.startswith('# 27" 4K Monitor\n')
    assert "> Calibrated at the factory." in markdown
    assert (external_id, batch) == ("MN-301", "Displays")
    assert "{{" not in "".join(markdown for markdown, _, _ in docs)


# --- the plugin: config ------------------------------------------------------------------------


def test_config_defaults_and_the_shipped_default_config() -> None:
    parse = plugin.markdown_plugin.parse_config
    assert parse({}) == plugin.MarkdownConfig(
        batch_column=None, id_columns=[], dedupe=False, skip_empty_rows=True
    )
    shipped = json.loads((EXAMPLE / "default_config.json").read_text(encoding="utf-8"))
    assert parse(shipped) == parse({})
    full = {"batch_column": "team", "id_columns": ["a", "b"], "dedupe": True}
    assert parse(full).id_columns == ["a", "b"]


def test_config_with_wrong_types_says_what_each_key_must_be() -> None:
    bad = {"batch_column": 3, "id_columns": "sku", "dedupe": "yes", "skip_empty_rows": 1}
    with pytest.raises(InvalidConfig) as caught:
        plugin.markdown_plugin.parse_config(bad)
    assert str(caught.value) == (
        "invalid config: batch_column should be a valid string, got 3; "
        'id_columns should be a valid list, got "sku"; '
        'dedupe should be a valid boolean, got "yes"; '
        "skip_empty_rows should be a valid boolean, got 1"
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"id_columns": ["sku", 7]}, "id_columns[1] should be a valid string, got 7"),
        ({"id_columns": ["sku", "sku"]}, "id_columns: lists 'sku' more than once"),
        ({"id_columns": [" "]}, "id_columns: column names must not be empty"),
        ({"batch_column": ""}, "batch_column: must be a column name or null"),
        ({"dedupe": True}, "dedupe is true but id_columns is empty"),
        ({"batch_colum": "x"}, "unknown key 'batch_colum' (did you mean 'batch_column'?)"),
    ],
)
def test_config_problems_are_explained(config: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidConfig) as caught:
        plugin.markdown_plugin.parse_config(config)
    assert str(caught.value).startswith("invalid config: ")
    assert message in str(caught.value)


# --- the plugin: the callback ------------------------------------------------------------------


class FakeJob:
    """What the callback uses of `MarkdownJob`, with rows read the way the SDK reads them and
    the config validated as the SDK does (the hub sends `{}` when a job gives none)."""

    def __init__(
        self,
        csv_text: str,
        template: str,
        config: dict[str, Any] | None = None,
        *,
        num_rows: int | None = None,
    ) -> None:
        self.config = plugin.markdown_plugin.parse_config(config if config is not None else {})
        self.template = template
        self.num_rows = num_rows
        self.cancelled = False
        self.logger = logging.getLogger("tests.markdown_example")
        self.progress_calls: list[tuple[float, float | None]] = []
        self.rows_read = 0
        self._csv = csv_text

    def rows(self) -> Iterator[dict[str, str]]:
        for row in csv.DictReader(io.StringIO(self._csv)):
            self.rows_read += 1
            yield row

    def progress(
        self, current: float, total: float | None = None, message: str | None = None
    ) -> None:
        # The SDK's own rule (BaseJob.progress).
        assert current >= 0
        assert total is None or total > 0
        self.progress_calls.append((current, total))


def _tickets(n: int, *, team: Any = None) -> str:
    return _csv_text(
        ["ticket", "team", "subject"],
        ([f"T{i}", team if team is not None else f"team{i % 3}", f"S{i}"] for i in range(n)),
    )


def test_the_callback_yields_sdk_documents_for_the_sample() -> None:
    job = FakeJob(
        (EXAMPLE / "sample.csv").read_text(encoding="utf-8"),
        (EXAMPLE / "sample_template.md").read_text(encoding="utf-8"),
        {"batch_column": "category", "id_columns": ["sku"], "dedupe": True},
        num_rows=8,
    )
    docs = list(plugin.make_documents(job))
    assert all(isinstance(doc, plugin.MarkdownDocument) for doc in docs)
    assert [doc.external_id for doc in docs][:3] == ["KB-101", "KB-102", "MS-201"]
    assert {doc.batch for doc in docs} == {"Peripherals", "Displays", "Audio", "Accessories"}
    assert job.progress_calls[-1] == (8, 8)


def test_the_callback_streams_rows_and_reports_progress_about_every_percent() -> None:
    job = FakeJob(_tickets(1000), "{{subject}}", {"batch_column": "team"}, num_rows=1000)
    docs = plugin.make_documents(job)
    first = next(docs)
    assert (first.markdown, first.batch, first.external_id) == ("S0", "team0", None)
    assert job.rows_read == 1  # one row read for one document: nothing is held back
    rest = list(docs)
    assert len(rest) == 999
    assert [doc.markdown for doc in rest[-2:]] == ["S998", "S999"]
    currents = [current for current, _ in job.progress_calls]
    assert currents == sorted(currents)
    assert 100 <= len(currents) <= 102
    assert {total for _, total in job.progress_calls} == {1000}
    assert job.progress_calls[-1] == (1000, 1000)


def test_without_a_row_count_progress_has_no_total() -> None:
    job = FakeJob(_tickets(2500), "{{subject}}")
    assert len(list(plugin.make_documents(job))) == 2500
    assert job.progress_calls == [(1000, None), (2000, None), (2500, None)]


def test_a_missing_column_fails_the_job_before_any_document() -> None:
    job = FakeJob(_tickets(10), "{{ subject }} {{ priority }}", {"id_columns": ["ticket"]})
    docs = plugin.make_documents(job)
    with pytest.raises(TemplateError, match=r"the CSV: 'priority' \(in template\)"):
        next(docs)
    assert job.rows_read == 1


def test_bad_template_syntax_fails_before_the_csv_is_read() -> None:
    job = FakeJob(_tickets(10), "{{ subject ")
    with pytest.raises(TemplateError, match="unclosed placeholder"):
        next(plugin.make_documents(job))
    assert job.rows_read == 0


def test_an_empty_template_fails_the_job() -> None:
    with pytest.raises(TemplateError, match="the template is empty"):
        next(plugin.make_documents(FakeJob(_tickets(1), "  \n")))


def test_a_value_the_hub_cannot_take_names_the_row() -> None:
    job = FakeJob(_tickets(3, team="x" * 201), "{{subject}}", {"batch_column": "team"})
    with pytest.raises(ValueError, match=r"^CSV row 1: batch: "):
        list(plugin.make_documents(job))


def test_empty_rows_are_skipped_by_default() -> None:
    text = "ticket,subject\nT1,a\n,\nT2,b\n"
    assert [d.markdown for d in plugin.make_documents(FakeJob(text, "{{subject}}"))] == ["a", "b"]
    keep = FakeJob(text, "[{{subject}}]", {"skip_empty_rows": False})
    assert [d.markdown for d in plugin.make_documents(keep)] == ["[a]", "[]", "[b]"]


def test_a_cancelled_job_stops_reading() -> None:
    job = FakeJob(_tickets(10), "{{subject}}")
    docs = plugin.make_documents(job)
    next(docs)
    job.cancelled = True
    with pytest.raises(RuntimeError, match="cancelled after 1 rows"):
        next(docs)


def test_repeated_external_ids_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    text = "sku,name\nA,1\nB,2\nA,3\n"
    job = FakeJob(text, "{{name}}", {"id_columns": ["sku"], "dedupe": True})
    with caplog.at_level(logging.INFO, logger=job.logger.name):
        assert len(list(plugin.make_documents(job))) == 3
    assert "CSV row 3 repeats the external id 'A' (dedupe will skip it)" in caplog.text
    assert "3 documents from 3 rows" in caplog.text


# --- the plugin end to end, through the SDK's runner (ango_plugins_sdk.testing) ----------------


def test_the_sample_end_to_end() -> None:
    run = run_markdown(
        plugin.markdown_plugin,
        csv=(EXAMPLE / "sample.csv").read_text(encoding="utf-8"),
        template=(EXAMPLE / "sample_template.md").read_text(encoding="utf-8"),
        config={"batch_column": "category", "id_columns": ["sku"], "dedupe": True},
    )
    run.raise_for_failure()
    assert run.job.input["num_rows"] == 8
    assert [doc.external_id for doc in run.documents][:3] == ["KB-101", "KB-102", "MS-201"]
    assert {doc.batch for doc in run.documents} == {
        "Peripherals",
        "Displays",
        "Audio",
        "Accessories",
    }
    assert run.output == {"documents": 8, "created": 8, "skipped": 0}
    assert run.progress[-1] == (8, 8, "read 8 CSV rows")
    assert any(r.message == "8 documents from 8 rows" for r in run.logs)


def test_an_uploaded_csv_end_to_end_dedupes_and_logs_repeats(tmp_path: Path) -> None:
    path = tmp_path / "skus.csv"
    path.write_text("sku,name\nA,1\nB,2\nA,3\n", encoding="utf-8")
    run = run_markdown(
        plugin.markdown_plugin,
        csv=path,
        template="{{name}}",
        config={"id_columns": ["sku"], "dedupe": True},
    )
    run.raise_for_failure()
    assert [doc.markdown for doc in run.documents] == ["1", "2", "3"]
    assert run.output == {"documents": 3, "created": 2, "skipped": 1}
    warnings = [r.message for r in run.logs if r.level == "WARNING"]
    assert "CSV row 3 repeats the external id 'A' (dedupe will skip it)" in warnings
    assert run.progress[-1] == (3, None, "read 3 CSV rows")  # an upload is not counted


def test_a_missing_column_fails_end_to_end_before_any_document() -> None:
    run = run_markdown(
        plugin.markdown_plugin, csv=_tickets(10), template="{{ subject }} {{ priority }}"
    )
    assert run.status == "failed"
    assert run.error is not None
    assert run.error.kind == "TemplateError"
    assert "'priority' (in template)" in run.error.message
    assert run.documents == []


def test_a_bad_config_fails_end_to_end() -> None:
    run = run_markdown(
        plugin.markdown_plugin, csv=_tickets(1), template="x", config={"dedupe": True}
    )
    assert run.error is not None
    assert run.error.kind == "ConfigError"
    assert "dedupe is true but id_columns is empty" in run.error.message
