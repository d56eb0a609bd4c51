"""Imports only point downward: arch -> cost -> data -> train -> search -> confirm -> scaling ->
report (STYLE.md 1). A package's `app.py` (its Hydra entry point, glue over everything) is the top
layer and may import any of them."""

import ast
from pathlib import Path

ORDER = ["arch", "cost", "data", "train", "search", "confirm", "scaling", "report"]
PACKAGE = Path(__file__).resolve().parents[1] / "mv2search"


def _imported_subpackages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "mv2search" and len(parts) > 1 and parts[1] in ORDER:
                found.add(parts[1])
    return found


def test_imports_point_downward():
    for index, sub in enumerate(ORDER):
        for path in (PACKAGE / sub).rglob("*.py") if (PACKAGE / sub).is_dir() else []:
            if path.name == "app.py":
                continue
            upward = _imported_subpackages(path) - set(ORDER[: index + 1])
            assert not upward, f"{path.relative_to(PACKAGE)} imports {sorted(upward)} (upward)"


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
