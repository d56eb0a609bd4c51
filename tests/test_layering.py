"""Imports only point downward (STYLE.md 1), for every module of the package, without exemptions.

Layers, bottom first: `files` (helpers that import nothing of ours) -> `arch` -> `cost` ->
`study` (the store of trials) -> `report` (how a study reads) -> `data` -> `supernet` -> `train`
-> `supernet_train` -> `search` -> `confirm` -> `scaling` -> `apps` (every command-line shell).
The report sits below the training code, so a report never imports it; the fresh-interpreter
test checks that importing it loads none of it, through any `__init__`.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ORDER = [
    "files",
    "arch",
    "cost",
    "study",
    "report",
    "data",
    "supernet",
    "train",
    "supernet_train",
    "search",
    "confirm",
    "scaling",
    "apps",
]
# Top-level modules and the layer each belongs to.
TOP_LEVEL = {
    "files": "files",
    "conf": "files",  # config files only
    "__init__": "cost",  # the package facade re-exports arch and cost
    "testing": "arch",  # test helpers: random specs, the timm reference
    "__main__": "apps",
}
PACKAGE = Path(__file__).resolve().parents[1] / "mv2search"


def _layer(path: Path) -> str:
    """The layer of a module file: its subpackage, or `TOP_LEVEL` for a top-level module."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    name = parts[0]
    if len(parts) == 1 or name == "conf":
        assert name in TOP_LEVEL, f"{path.relative_to(PACKAGE)}: no layer in TOP_LEVEL"
        return TOP_LEVEL[name]
    assert name in ORDER, f"{path.relative_to(PACKAGE)}: subpackage {name!r} has no layer"
    return name


def _imported_layers(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path.relative_to(PACKAGE)}: relative import")
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] != "mv2search":
                continue
            target = parts[1] if len(parts) > 1 else "__init__"
            found.add(target if target in ORDER else TOP_LEVEL[target])
    return found


def test_every_module_imports_only_its_own_layer_or_below():
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 100  # the walk found the package
    for path in modules:
        layer = _layer(path)
        allowed = set(ORDER[: ORDER.index(layer) + 1])
        upward = _imported_layers(path) - allowed
        assert not upward, f"{path.relative_to(PACKAGE)} ({layer}) imports {sorted(upward)}"


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("mv2search.report", ("mv2search.train", "mv2search.data", "mv2search.search")),
        ("mv2search.study", ("mv2search.train", "mv2search.data", "mv2search.search")),
        ("mv2search", ("mv2search.study", "mv2search.train", "mv2search.data")),
    ],
)
def test_a_fresh_interpreter_imports_no_higher_layer(module, forbidden):
    code = (
        f"import sys, {module}\n"
        f"loaded = sorted(m for m in sys.modules if m.startswith({forbidden!r}))\n"
        "assert not loaded, loaded"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_arch_imports_only_torch():
    allowed = {
        "torch",
        "mv2search",
        "__future__",
        "collections",
        "dataclasses",
        "hashlib",
        "json",
        "math",
        "pathlib",
        "typing",
        "yaml",
        "contextlib",
        "io",
        "logging",
        "warnings",
        "tempfile",
        "safetensors",
    }
    for path in (PACKAGE / "arch").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                roots = {node.module.split(".")[0]}
            else:
                continue
            assert roots <= allowed, f"{path.name} imports {roots - allowed}"
