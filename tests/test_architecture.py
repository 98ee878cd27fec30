"""The import rules of docs/architecture.md, checked on the source: each folder imports only what it may."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUBPACKAGES = ("curation.synthetic", "curation.metric", "curation.audit")


def imported_modules(path: Path, package: str | None = None) -> set[str]:
    """Every module a file imports (absolute names; relative imports resolved against its package)."""
    package = package if package is not None else ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def owner(module: str) -> str:
    """The room a module belongs to: a curation sub-package, the curation top level, or a top-level package."""
    for sub in SUBPACKAGES:
        if module == sub or module.startswith(sub + "."):
            return sub
    return "curation" if module.startswith("curation") else module.split(".")[0]


# room -> project rooms it may import (besides itself); third-party imports are not restricted, except Prefect.
ALLOWED = {
    "data_contracts": {"data_contracts"},
    "curation": {"curation", "data_contracts"},
    "curation.synthetic": {"curation", "data_contracts"},
    "curation.metric": {"curation", "data_contracts"},
    "curation.audit": {"curation", "data_contracts"},
    "tasks": {"tasks", "curation", *SUBPACKAGES, "data_contracts"},
    "flows": {"flows", "tasks", "curation", *SUBPACKAGES, "data_contracts"},
}
PROJECT_ROOMS = {"data_contracts", "curation", "tasks", "flows", "tests", "benchmarks", "scripts", *SUBPACKAGES}
NO_PREFECT = ("data_contracts", "curation", *SUBPACKAGES)


def source_files() -> list[Path]:
    return sorted(p for room in ("data_contracts", "curation", "tasks", "flows") for p in (ROOT / room).rglob("*.py"))


@pytest.mark.parametrize("path", source_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_each_module_imports_only_what_its_folder_may(path):
    room = owner(".".join(path.relative_to(ROOT).with_suffix("").parts))
    bad = sorted(m for m in imported_modules(path)
                 if (owner(m) in PROJECT_ROOMS and owner(m) not in ALLOWED[room] | {room})
                 or (room in NO_PREFECT and m.split(".")[0] in ("prefect", "prefect_dask")))
    assert not bad, f"{path.relative_to(ROOT)} ({room}) imports {bad}"


def test_the_rule_catches_an_upward_import(tmp_path):
    # The checker itself: a curation module importing tasks, or Prefect, is reported.
    module = tmp_path / "upward.py"
    module.write_text("from tasks.discover import discover\nimport prefect\nfrom ..metric import detect\n")
    names = imported_modules(module, package="curation.audit")
    assert {"tasks.discover", "prefect", "curation.metric.detect"} <= names
    assert owner("tasks.discover") not in ALLOWED["curation"]
    assert owner("curation.metric.detect") not in ALLOWED["curation.audit"]
    assert owner("curation.media") == "curation"
