"""Probe: does standardising each speaker's features by that speaker's own statistics help on new speakers?

A linear model (logistic regression, balanced classes) on the per-band mean and standard deviation over time of
the shipped log-mel (128 values per clip), in two arms: ``G`` standardises with the training clips' statistics;
``S`` z-scores every speaker (training and validation alike) by the mean and std of that speaker's own clips,
without labels. Scored on validation speakers only: the holdout's (``docs/models/cnn2d-student/split.json``) or, with
``--folds``, each fold's of ``--protocol corpus-kfold --k 4`` (seed 0), pooled.

    SERAPP_CORPORA=... .venv/bin/python docs/models/cnn2d-student/search/speaker-normalisation/probe.py [--folds]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from serapp_train import cache, corpora, metrics
from serapp_train import splits as split_lib
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from serapp.engine.spec import FeatureSpec
from serapp.paths import corpora_root

DOCS = Path(__file__).resolve().parents[2]


def per_speaker(feat: np.ndarray, speakers: np.ndarray) -> np.ndarray:
    """Z-score ``feat`` ``(N, D)`` within each speaker's rows (one mean and std per speaker and column)."""
    out = np.empty_like(feat)
    for s in np.unique(speakers):
        rows = speakers == s
        out[rows] = (feat[rows] - feat[rows].mean(0)) / (feat[rows].std(0) + 1e-6)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", action="store_true", help="the 4 corpus folds' validation speakers, pooled")
    args = parser.parse_args()
    spec = FeatureSpec.from_json((DOCS / "spec.json").read_text(encoding="utf-8"))
    extracted = cache.extract(corpora.scan(corpora_root(), None), spec, features=True, audio=False, workers=2)
    clips = extracted.clips
    assert extracted.features is not None
    logmel = extracted.features[..., 0].astype(np.float32)                 # (N, frames, mels)
    feat = np.concatenate([logmel.mean(1), logmel.std(1)], axis=1)         # (N, 2 * mels)
    speakers = np.array([c.speaker for c in clips])
    corpus_of = np.array([c.corpus for c in clips])
    labels = sorted({c.label for c in clips})
    y = np.array([labels.index(c.label) for c in clips])
    if args.folds:
        folds = [(s.train, s.val) for s in split_lib.speaker_kfold_by_corpus(clips, k=4, seed=0, val_fraction=0.1)]
    else:
        split = json.loads((DOCS / "split.json").read_text(encoding="utf-8"))
        folds = [(np.flatnonzero(np.isin(speakers, split["train_speakers"])),
                  np.flatnonzero(np.isin(speakers, split["val_speakers"])))]
    # a speaker may validate in two folds: pool (fold, clip) predictions, not clips
    val = np.concatenate([v for _, v in folds])
    print(f"{len(folds)} fold(s), {len(val)} validation predictions")
    normalised = per_speaker(feat, speakers)
    for arm in ("G", "S"):
        predicted = []
        for train, held in folds:
            x = StandardScaler().fit(feat[train]).transform(feat) if arm == "G" else normalised
            model = LogisticRegression(C=1.0, max_iter=3000, class_weight="balanced").fit(x[train], y[train])
            predicted.append(model.predict(x[held]))
        scores = metrics.evaluate(y[val], np.concatenate(predicted), labels, corpus_of[val])
        line: dict[str, object] = {"arm": arm, "accuracy": round(100 * scores.accuracy, 1),
                                   "uar": round(100 * scores.uar, 1), "macro_f1": round(scores.macro_f1, 3)}
        for corpus in ("crema-d", "ravdess", "savee"):
            line[f"uar_{corpus}"] = round(100 * scores.per_corpus[corpus].uar, 1)
        line["recall"] = {label: round(100 * c.recall, 1) for label, c in scores.per_class.items()}
        print(json.dumps(line))


if __name__ == "__main__":
    main()
