"""Nothing the user made is lost: the engine and the commands write no file in place (they print; front ends
and the trainer write through temp file + rename). A new direct writer there must go through an atomic helper."""

from __future__ import annotations

import ast
from pathlib import Path

import serapp

PACKAGE = Path(serapp.__file__).parent
# Calls that create or overwrite a file in place.
WRITERS = {"write_text", "write_bytes", "save", "savez", "savez_compressed", "savefig", "to_csv", "dump"}


def direct_writes(source: str) -> list[str]:
    """Calls in ``source`` that write a file in place: the names above, ``sf.write``, ``open(..., "w"/"a"/"x")``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
        mode = next((a.value for a in [*node.args[1:2], *(k.value for k in node.keywords if k.arg == "mode")]
                     if isinstance(a, ast.Constant) and isinstance(a.value, str)), "r")
        if name in WRITERS or (name == "write" and owner == "sf") or (name == "open" and set(mode) & set("wax")):
            found.append(f"line {node.lineno}: {ast.unparse(node)[:80]}")
    return found


def test_the_detector_sees_direct_writes() -> None:
    sample = 'Path(p).write_text("x")\nopen(p, "w")\nsf.write(p, y, 16000)\nopen(p)\nprint("w")\n'
    assert [f.split(":")[0] for f in direct_writes(sample)] == ["line 1", "line 2", "line 3"]


def test_engine_and_commands_write_no_file_in_place() -> None:
    files = [*sorted((PACKAGE / "engine").glob("*.py")), PACKAGE / "commands.py", PACKAGE / "cli.py"]
    offenders = {f.name: w for f in files if (w := direct_writes(f.read_text()))}
    assert not offenders, f"write through an atomic helper (temp file + rename) instead: {offenders}"
