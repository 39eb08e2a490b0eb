"""Which part of the hub may import which, read from the source with `ast` (imports inside
functions count too), so a stray import fails here rather than in review:

- the REST API (hub/api) and the dashboard (hub/web) never import each other: what both
  need (request context, error mapping, body reading, shared views) lives in hub/http,
  which imports neither of them;
- the domain below them (services, workspace, job types, the engine, the store, blob
  storage, the `Hub` they make up) knows nothing of HTTP;
- the job engine (hub/jobs) imports nothing above it, and the wire protocol
  (ango_plugins_sdk/protocol) nothing that does I/O, nor the hub or the rest of the SDK;
- `Job` means one thing at a time: the stored row is `JobRow`, the engine's job is
  `ActiveJob`, and the protocol's message is imported as `JobMessage`; no hub code uses the
  bare name `Job`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

HTTP_LAYERS = ("hub.api", "hub.web", "hub.http", "starlette")
DOMAIN = tuple(
    f"hub/{part}"
    for part in ("services", "workspace", "job_types", "jobs", "store", "storage", "runtime.py")
)
ABOVE_THE_ENGINE = (
    *HTTP_LAYERS,
    "hub.app",
    "hub.gateway",
    "hub.runtime",
    "hub.services",
    "hub.workspace",
    "hub.job_types",
)
DOING_IO = ("asyncio", "socket", "ssl", "threading", "subprocess", "websockets", "httpx")


def imported_modules(source: str, *, package: str) -> set[str]:
    """Every module `source` (a module of `package`) imports: for `from a import b`, both
    `a` and `a.b`, since `b` may be a module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _sources(where: Iterable[str]) -> list[Path]:
    paths = [ROOT / name for name in where]
    return sorted(f for p in paths for f in ([p] if p.is_file() else p.rglob("*.py")))


def _imports_of(path: Path) -> set[str]:
    package = ".".join(path.relative_to(ROOT).parent.parts)
    return imported_modules(path.read_text(), package=package)


def _within(module: str, packages: Iterable[str]) -> bool:
    return any(module == p or module.startswith(f"{p}.") for p in packages)


def offenders(
    where: Iterable[str], forbidden: tuple[str, ...], *, allowed: tuple[str, ...] = ()
) -> list[str]:
    """`file: modules` for each file under `where` (paths from the repository's root) that
    imports any of `forbidden` (or anything inside them) other than `allowed`."""
    found = []
    for path in _sources(where):
        bad = sorted(
            module
            for module in _imports_of(path)
            if _within(module, forbidden) and not _within(module, allowed)
        )
        if bad:
            found.append(f"{path.relative_to(ROOT)}: {', '.join(bad)}")
    return found


def test_the_check_sees_every_kind_of_import() -> None:
    source = "import a.b\nfrom c import d\n\ndef f():\n    from .e import g\n    from .. import h\n"
    assert imported_modules(source, package="hub.web") == {
        "a.b",
        "c",
        "c.d",
        "hub.web.e",
        "hub.web.e.g",
        "hub",
        "hub.h",
    }
    # The app composes both layers: a check that saw no imports would pass vacuously.
    assert {"hub.api.jobs", "hub.web", "hub.http.errors"} <= _imports_of(ROOT / "hub/app.py")


def test_the_api_and_the_dashboard_do_not_import_each_other() -> None:
    assert offenders(["hub/api"], ("hub.web",)) == []
    assert offenders(["hub/web"], ("hub.api",)) == []


def test_the_shared_http_layer_imports_neither_layer_it_serves() -> None:
    assert offenders(["hub/http"], ("hub.api", "hub.web")) == []


def test_the_domain_imports_no_http_layer() -> None:
    assert offenders(DOMAIN, HTTP_LAYERS) == []


def test_the_engine_imports_nothing_above_it() -> None:
    assert offenders(["hub/jobs"], ABOVE_THE_ENGINE) == []


def test_the_protocol_does_no_io_and_stands_alone() -> None:
    outside = (*DOING_IO, "hub", "ango_plugins_sdk")
    protocol = "ango_plugins_sdk.protocol"
    assert offenders([protocol.replace(".", "/")], outside, allowed=(protocol,)) == []


def test_job_alone_names_nothing_in_the_hub() -> None:
    found = []
    for path in _sources(["hub"]):
        for node in ast.walk(ast.parse(path.read_text())):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.ImportFrom):
                from_protocol = (node.module or "").startswith("ango_plugins_sdk.protocol")
                for alias in node.names:
                    if from_protocol and alias.name == "Job" and alias.asname != "JobMessage":
                        found.append(f"{where}: import the protocol's Job as JobMessage")
                    elif (alias.asname or alias.name) == "Job":
                        found.append(f"{where}: imports a name Job")
            elif (isinstance(node, ast.Name) and node.id == "Job") or (
                isinstance(node, ast.ClassDef) and node.name == "Job"
            ):
                found.append(f"{where}: the name Job")
    assert found == []
