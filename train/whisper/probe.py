"""A linear probe of the cached Whisper encoder layers: what the frozen encoder offers before any head is trained.

Logistic regression (standardised inputs) on each clip's layer mean+std vectors from
:mod:`serapp_train.whisper.embeddings`,
speaker-independent with :func:`serapp_train.splits.speaker_kfold_by_corpus` (every speaker tested once, unseen), scored
as unweighted average recall per corpus over the pooled test folds; one fit per layer choice (each layer alone, and
every layer concatenated). The emotions a corpus lacks are simply absent from its recall average.

``python -m serapp_train.whisper.probe [--corpora ...]`` writes the record as JSON (default ``runs/whisper-probe/``) and
prints it; figures are quoted from such records, never typed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from serapp.atomic import replacing
from serapp.engine.labels import EMOTIONS
from serapp.errors import SerappError, run_command
from serapp.paths import REPO_ROOT, corpora_root

from ..corpora import Clip, scan
from ..metrics import uar
from ..splits import speaker_kfold_by_corpus

ALL_LAYERS = "all"


def _features(values: np.ndarray, layer: int | str) -> np.ndarray:
    """``(n, n_layers + 1, d)`` -> ``(n, d)`` for one layer, or every layer side by side for :data:`ALL_LAYERS`."""
    return values.reshape(len(values), -1) if layer == ALL_LAYERS else values[:, int(layer)]


def probe(clips: Sequence[Clip], values: np.ndarray, *, layers: Sequence[int | str], k: int = 4, c: float = 1.0,
          seed: int = 0) -> dict[str, dict[str, float]]:
    """UAR per corpus (and ``"all"``, over every tested clip) for each entry of ``layers``.

    ``values``: ``(len(clips), n_layers + 1, d)`` cached embeddings (``meanstd``). Returns
    ``{str(layer): {corpus: uar, ..., "all": uar}}``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(values) != len(clips) or values.ndim != 3:
        raise SerappError(f"Need one (layers, d) embedding a clip: {len(clips)} clips, values {values.shape}.")
    y = np.array([EMOTIONS.index(c.label) for c in clips])
    corpora = np.array([c.corpus for c in clips])
    splits = speaker_kfold_by_corpus(clips, k, seed=seed)
    out: dict[str, dict[str, float]] = {}
    for layer in layers:
        x = _features(values, layer)
        pred = np.full(len(clips), -1)
        for split in splits:
            train = np.concatenate([split.train, split.val])
            model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))
            pred[split.test] = model.fit(x[train], y[train]).predict(x[split.test])
        tested = pred >= 0
        scores = {corpus: uar(y[tested & (corpora == corpus)], pred[tested & (corpora == corpus)])
                  for corpus in sorted(set(corpora[tested]))}
        out[str(layer)] = {**scores, "all": uar(y[tested], pred[tested])}
    return out


def _main(argv: Sequence[str] | None = None) -> int:
    from .embeddings import embed

    parser = argparse.ArgumentParser(prog="python -m serapp_train.whisper.probe", description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=None, help="corpora folder (default: SERAPP_CORPORA)")
    parser.add_argument("--corpora", nargs="+", default=None, help="corpora to probe (default: all found)")
    parser.add_argument("--model", default=None, help="CTranslate2 Whisper folder or package (default: tiny.en)")
    parser.add_argument("--k", type=int, default=4, help="speaker folds (default 4)")
    parser.add_argument("--c", type=float, default=1.0, help="inverse L2 strength of the regression (default 1)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "runs" / "whisper-probe")
    args = parser.parse_args(argv)
    clips = scan(args.root or corpora_root(), args.corpora)
    done = embed(clips, source=args.model)  # from the cache; computes what is missing
    n_layers = done.values.shape[1]
    results = probe(done.clips, done.values, layers=[*range(n_layers), ALL_LAYERS], k=args.k, c=args.c)
    record: dict[str, Any] = {"created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                              "command": " ".join(["python -m serapp_train.whisper.probe", *(argv or sys.argv[1:])]),
                              "embeddings": str(done.root), "clips": len(done.clips), "skipped": len(done.errors),
                              "k": args.k, "c": args.c, "metric": "UAR, speaker-independent, pooled test folds",
                              "uar_by_layer": results}
    path = args.out / f"probe-{record['created'].replace(':', '')}.json"
    with replacing(path) as tmp:
        tmp.write_text(json.dumps(record, indent=1), encoding="utf-8")
    corpora = sorted({c for scores in results.values() for c in scores})
    print("layer  " + "  ".join(f"{c:>8}" for c in corpora))
    for layer, scores in results.items():
        print(f"{layer:>5}  " + "  ".join(f"{100 * scores[c]:7.1f}%" if c in scores else " " * 8 for c in corpora))
    print(f"record: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_command("python -m serapp_train.whisper.probe", lambda: _main()))
