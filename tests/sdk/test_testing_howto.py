"""docs/how-to/testing-plugins.md: every Python block on the page runs, as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "how-to" / "testing-plugins.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```$", PAGE.read_text(encoding="utf-8"), re.M | re.S)


def test_the_page_has_a_block_for_every_helper() -> None:
    code = "\n".join(BLOCKS)
    for helper in (
        "run_custom",
        "run_export",
        "run_model",
        "run_batch_model",
        "run_markdown",
        "run_file_explorer_list",
        "run_file_explorer_import",
    ):
        assert f"= {helper}(" in code, helper


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_the_block_runs(block: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(ROOT)  # the blocks name files from the repository's root
    source = tmp_path / "howto_block.py"  # a file of its own, so tracebacks show its lines
    source.write_text(block, encoding="utf-8")
    exec(compile(block, str(source), "exec"), {"__name__": "howto"})  # noqa: S102
