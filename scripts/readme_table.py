"""Render the README's results table from the bundled models' records, between its marker comments.

One row per model in the bundled manifest (``assets/models/manifest.json``, written by ``serapp-train manifest``):
its file and size from the manifest, and its test-speaker figures from its run folder's ``product-path/metrics.json``
(``serapp-train evaluate --part test --product``: the bundled file itself, int8 weights and all, scored on fixed
crops and through file analysis). A run folder without one falls back to its ``metrics.json`` (the training run's
own export, written by ``serapp-train train``), with no file-analysis figure. No figure is typed.

    python scripts/readme_table.py            # rewrite the table in README.md
    python scripts/readme_table.py --check    # exit 1 when README.md's table is not the rendering
    python scripts/readme_table.py --print    # print the table only
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MANIFEST = ROOT / "assets" / "models" / "manifest.json"
DEFAULT_FILE = "serapp-default.onnx"  # the model the app loads when none is named
BEGIN = "<!-- results-table: written by `python scripts/readme_table.py` from the models' records; do not edit -->"
END = "<!-- /results-table -->"
CORPORA = ("crema-d", "ravdess", "savee", "tess")


def pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def card(run: str, root: Path) -> str:
    """The model card written for ``run``: the one whose last line names ``serapp-train card RUN``."""
    for path in (f"{run}/model-card.md", "docs/model-card.md"):
        if (root / path).is_file() and f"serapp-train card {run}" in (root / path).read_text():
            return path
    return f"{run}/"


def row(entry: dict, root: Path) -> str:
    run = root / entry["run"]
    product = run / "product-path" / "metrics.json"
    # The bundled file's own scoring when there is one: a quantised export can differ from its training run.
    metrics = json.loads((product if product.is_file() else run / "metrics.json").read_text())
    path = metrics.get("product_path", {})
    file_uar = pct(path["file_analysis_ua"]) if "file_analysis_ua" in path else "—"
    per_corpus = metrics.get("per_corpus", {})
    corpora = " / ".join(f"{100 * per_corpus[c]['uar']:.1f}" if c in per_corpus else "—" for c in CORPORA) + " %"
    name = f"`{entry['file']}`" + (" (default)" if entry["file"] == DEFAULT_FILE else "")
    run_link = f"[card]({card(entry['run'], root)})"
    return (f"| {name} | {entry['size_bytes'] / 1e6:.1f} MB | {metrics['n']} | {pct(metrics['accuracy'])} | "
            f"{metrics['macro_f1']:.3f} | {pct(metrics['uar'])} | {corpora} | {file_uar} | {run_link} |")


def render(root: Path = ROOT) -> str:
    """The table (Markdown, with its marker comments) for the models of ``root``'s bundled manifest."""
    manifest = json.loads((root / MANIFEST.relative_to(ROOT)).read_text())
    entries = sorted(manifest["models"], key=lambda e: e["file"] != DEFAULT_FILE)
    lines = [BEGIN,
             "| model | size | test clips | accuracy | macro-F1 | UAR | UAR: CREMA-D / RAVDESS / SAVEE / TESS "
             "| file analysis UAR | details |",
             "|---|---:|---:|---:|---:|---:|---|---:|---|",
             *(row(e, root) for e in entries),
             END]
    return "\n".join(lines)


def current(text: str) -> str | None:
    """The table block in ``text`` (markers included), or None when the markers are missing."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        return None
    return text[start:end + len(END)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--check", action="store_true", help="exit 1 when README.md's table differs")
    group.add_argument("--print", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    table = render()
    if args.print:
        print(table)
        return 0
    text = README.read_text()
    block = current(text)
    if block is None:
        print(f"README.md has no table markers ({BEGIN!r} ... {END!r})", file=sys.stderr)
        return 1
    if args.check:
        if block != table:
            print("README.md's results table is not the records' rendering: run python scripts/readme_table.py",
                  file=sys.stderr)
            return 1
        return 0
    README.write_text(text.replace(block, table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
