"""The README's layout table and docs/architecture.md name the tree as it is."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text()


def layout_paths() -> list[str]:
    table = README[README.index("## Layout") :]
    return re.findall(r"^\| `([^`]+)` \|", table, re.M)


def test_every_path_in_the_readme_layout_exists() -> None:
    paths = layout_paths()
    assert paths
    missing = [path for path in paths if not (ROOT / path).exists()]
    assert missing == []


def test_every_package_of_the_hub_and_the_sdk_is_in_the_layout() -> None:
    listed = set(layout_paths())
    packages = [
        f"{path.relative_to(ROOT)}/"
        for root in ("hub", "ango_plugins_sdk")
        for path in (ROOT / root).iterdir()
        if (path / "__init__.py").exists()
    ]
    assert [p for p in packages if p not in listed] == []


def test_every_file_the_architecture_page_names_exists() -> None:
    named = set(re.findall(r"`((?:hub|ango_plugins_sdk|tests)/[\w/.]+\.py)`", ARCHITECTURE))
    named |= {
        f"ango_plugins_sdk/{name}"
        for name in re.findall(r"`(_\w+\.py|protocol/\w+\.py)`", ARCHITECTURE)
    }
    assert len(named) > 20
    assert sorted(path for path in named if not (ROOT / path).exists()) == []


def test_every_hub_package_is_on_the_architecture_diagram() -> None:
    start = ARCHITECTURE.index("```")
    diagram = ARCHITECTURE[start : ARCHITECTURE.index("```", start + 3)]
    packages = [p.name for p in (ROOT / "hub").iterdir() if (p / "__init__.py").exists()]
    assert [name for name in packages if f"hub/{name}/" not in diagram] == []
