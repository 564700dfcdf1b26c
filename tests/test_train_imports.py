"""The trainer's import graph, read from the sources with ``ast``: commands import libraries, never each other, no
library imports a command, and no import cycle exists, function-local imports included (a cycle hidden inside a
function still ties the modules into one)."""

from __future__ import annotations

import ast
from pathlib import Path

from serapp_train.cli import COMMAND_MODULES

PACKAGE = "serapp_train"
ROOT = Path(__file__).resolve().parents[1] / "train"


def module_name(path: Path) -> str:
    """``train/whisper/encoder.py`` -> ``serapp_train.whisper.encoder``; a package's ``__init__`` is the package."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE, *parts])


MODULES: dict[str, Path] = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}
COMMANDS = {f"{PACKAGE}.{name}" for name in COMMAND_MODULES}


def _resolve(importer: str, is_package: bool, level: int, module: str | None) -> str:
    """The absolute module an ``import``/``from`` statement names (relative levels resolved against ``importer``)."""
    if level == 0:
        return module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[:len(base) - (level - 1)]
    return ".".join([*base, *([module] if module else [])])


def imports(name: str) -> set[str]:
    """The trainer modules ``name`` imports anywhere in its source (top level, functions, TYPE_CHECKING blocks)."""
    path = MODULES[name]
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, is_package, node.level, node.module)
            # `from . import cache` names a module; `from .cache import features` names a module's attribute
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        for target in targets:
            # `import serapp_train.whisper.classifier` imports that module (its packages hold no code worth an edge)
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target.startswith(PACKAGE) and target != name and target in MODULES:
                found.add(target)
    return found


GRAPH: dict[str, set[str]] = {name: imports(name) for name in MODULES}


def test_the_graph_is_read() -> None:
    assert f"{PACKAGE}.fit" in COMMANDS and f"{PACKAGE}.runfolder" in MODULES
    assert f"{PACKAGE}.training" in GRAPH[f"{PACKAGE}.fit"]  # the train command calls the library
    assert f"{PACKAGE}.cache" in GRAPH[f"{PACKAGE}.whisper.embeddings"]  # `from .. import cache`
    assert set(MODULES) >= COMMANDS


def test_commands_import_libraries_never_each_other() -> None:
    offending = {name: sorted(GRAPH[name] & COMMANDS) for name in MODULES if GRAPH[name] & COMMANDS}
    offending.pop(f"{PACKAGE}.cli", None)  # cli dispatches by name (importlib), but may name none statically
    assert not offending, f"modules importing command modules: {offending}"


def test_no_import_cycle() -> None:
    """Depth-first search; a back edge is a cycle, reported as the chain of modules."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []
    cycles: list[list[str]] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for target in sorted(GRAPH[name]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target):], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[name] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)
