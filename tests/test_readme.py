"""The README: its results table is the rendering of the bundled models' records, it stays short, and its links
resolve."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_WORDS = 1500


def readme_table():
    spec = importlib.util.spec_from_file_location("readme_table", ROOT / "scripts" / "readme_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_results_table_is_rendered_from_the_records():
    module = readme_table()
    block = module.current(README.read_text())
    assert block is not None, "README.md lost the results table's markers"
    assert block == module.render(), "run python scripts/readme_table.py"
    assert module.main(["--check"]) == 0


def test_results_table_has_a_row_per_bundled_model():
    import json

    module = readme_table()
    manifest = json.loads(module.MANIFEST.read_text())
    rows = [line for line in module.render().splitlines() if line.startswith("| `")]
    assert [r.split("`")[1] for r in rows] == sorted((m["file"] for m in manifest["models"]),
                                                     key=lambda f: f != module.DEFAULT_FILE)
    assert "(default)" in rows[0]


def test_readme_is_at_most_1500_words():
    words = len(README.read_text().split())
    assert words <= MAX_WORDS, f"README.md has {words} words; move detail into docs/"


def test_readme_links_resolve():
    text = README.read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    assert targets
    missing = [t for t in targets if not t.startswith(("http://", "https://")) and not (ROOT / t).exists()]
    assert not missing, f"README.md links to missing files: {missing}"
