"""`serapp-train data`: what the training data holds: clips per corpus and emotion, speakers and hours.

Durations come from file headers (libsndfile, no decoding), read in a thread pool: the whole shared
corpora take a few seconds, so they are not cached.
"""

from __future__ import annotations

import argparse
import os
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tqdm import tqdm

from serapp.engine.audio import probe
from serapp.engine.labels import EMOTIONS
from serapp.errors import SerappError
from serapp.paths import corpora_root

from .corpora import CORPORA, Clip, load_manifest, scan


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", type=Path, default=None,
                        help="corpora folder (default: $SERAPP_CORPORA or ../shared/corpora; not scanned when "
                             "only --manifest is given)")
    parser.add_argument("--corpora", type=lambda s: [c.strip() for c in s.split(",") if c.strip()], default=None,
                        help=f"comma-separated subset of {', '.join(CORPORA)} (default: all found)")
    parser.add_argument("--drop-calm", action="store_true",
                        help="drop RAVDESS 'calm' clips instead of counting them as neutral")
    parser.add_argument("--manifest", type=Path, action="append", default=[], metavar="CSV",
                        help="also count the clips of a CSV manifest (path,label,speaker[,corpus]); repeatable")


def duration_s(path: Path) -> float | None:
    """A file's duration in seconds from its header, or None when the header is unreadable."""
    try:
        return probe(path).duration_s
    except SerappError:
        return None


def durations(paths: Sequence[Path], progress: bool = True) -> list[float | None]:
    """Durations (s) of ``paths`` in order, read in parallel (libsndfile releases the GIL)."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return list(tqdm(pool.map(duration_s, paths, chunksize=64), total=len(paths), desc="reading headers",
                         unit="file", disable=not progress, leave=False))


def format_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    cells = [[str(v) for v in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def summary_rows(clips: Sequence[Clip], seconds: Sequence[float | None]) -> list[list[object]]:
    """One row per corpus and a total row: clips per emotion, clips, speakers (male/female), hours, unreadable."""
    groups: dict[str, list[int]] = {}
    for i, clip in enumerate(clips):
        groups.setdefault(clip.corpus, []).append(i)
    groups["total"] = list(range(len(clips)))
    rows: list[list[object]] = []
    for corpus, idx in groups.items():
        labels = Counter(clips[i].label for i in idx)
        speakers = {clips[i].speaker: clips[i].sex for i in idx}
        sexes = Counter(speakers.values())
        hours = sum(seconds[i] or 0.0 for i in idx) / 3600.0
        unreadable = sum(seconds[i] is None for i in idx)
        rows.append([corpus, *(labels[e] for e in EMOTIONS), len(idx), len(speakers),
                     f"{sexes['male']}/{sexes['female']}", f"{hours:.2f}", unreadable])
    return rows


def load_clips(args: argparse.Namespace) -> list[Clip]:
    clips: list[Clip] = []
    if args.root is not None or not args.manifest:
        clips += scan(args.root or corpora_root(), args.corpora, fold_calm=not args.drop_calm)
    for manifest in args.manifest:
        clips += load_manifest(manifest)
    if not clips:
        raise SerappError("No clips found: check --root, --corpora and --manifest.")
    return clips


def run(args: argparse.Namespace) -> int:
    clips = load_clips(args)
    seconds = durations([c.path for c in clips])
    header = ["corpus", *EMOTIONS, "clips", "speakers", "male/female", "hours", "unreadable"]
    print(format_table(header, summary_rows(clips, seconds)))
    return 0
