"""Palette-quantise PNG figures so the repository stays small (about a third of their size, same look).

The trainer's figures (confusion matrices, curves) and the screenshots are written as full-colour PNGs; a
median-cut palette of 256 colours without dithering keeps their look and their text sharp. Run it after a
command regenerates figures under docs/ (``serapp-train crossval``, ``compare``, ``card``):

    python scripts/shrink_pngs.py                 # every tracked PNG under docs/ not yet in palette mode
    python scripts/shrink_pngs.py PATH...         # these files
    python scripts/shrink_pngs.py --check         # exit 1 when a tracked PNG under docs/ is not quantised

The trainer writes its figures small already (``serapp_train.figures.save_figure``); this script and
``scripts/screenshots.py`` (128 colours) use the same :func:`serapp_train.figures.quantise`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from PIL import Image
from serapp_train.figures import quantise

ROOT = Path(__file__).resolve().parents[1]


def tracked_pngs() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "--", "docs/*.png"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.split()
    return [ROOT / name for name in listed]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="PNG files (default: every tracked PNG under docs/)")
    parser.add_argument("--check", action="store_true", help="only report full-colour PNGs; exit 1 if any")
    args = parser.parse_args(argv)
    paths = args.paths or tracked_pngs()
    full = [p for p in paths if Image.open(p).mode != "P"]
    if args.check:
        for p in full:
            print(f"{p}: full colour; run python scripts/shrink_pngs.py {p}")
        return 1 if full else 0
    for p in full:
        before = p.stat().st_size
        with Image.open(p) as image:
            image.load()
        quantise(image, p)
        print(f"{p}: {before} -> {p.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
