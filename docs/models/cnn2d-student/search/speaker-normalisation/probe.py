"""Probe: does standardising each speaker's features by that speaker's own statistics help on new speakers?

A linear model (logistic regression, balanced classes) on the per-band mean and standard deviation over time of
the shipped log-mel (128 values per clip), in two arms: ``G`` standardises with the training clips' statistics;
``S`` z-scores every speaker (training and validation alike) by the mean and std of that speaker's own clips,
without labels. Scored on validation speakers only, under two protocols: the holdout's
(``docs/models/cnn2d-student/split.json``) and each fold's of ``--protocol corpus-kfold --k 4`` (seed 0), pooled.
Prints one JSON line per protocol and arm; with ``--out DIR`` also writes ``DIR/probe.json`` (those records) and
``DIR/table.md`` (them as Markdown tables).

    SERAPP_CORPORA=... .venv/bin/python docs/models/cnn2d-student/search/speaker-normalisation/probe.py \
        --out docs/models/cnn2d-student/search/speaker-normalisation
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from serapp_train import cache, corpora, metrics, tables
from serapp_train import splits as split_lib
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from serapp.engine.spec import FeatureSpec
from serapp.paths import corpora_root

DOCS = Path(__file__).resolve().parents[2]
CORPORA = ("crema-d", "ravdess", "savee")
PROTOCOLS = {"holdout": "holdout", "folds": "4 folds, pooled"}


def per_speaker(feat: np.ndarray, speakers: np.ndarray) -> np.ndarray:
    """Z-score ``feat`` ``(N, D)`` within each speaker's rows (one mean and std per speaker and column)."""
    out = np.empty_like(feat)
    for s in np.unique(speakers):
        rows = speakers == s
        out[rows] = (feat[rows] - feat[rows].mean(0)) / (feat[rows].std(0) + 1e-6)
    return out


def render(records: list[dict[str, object]], command: str) -> str:
    """``records`` (as ``main`` writes them) as Markdown: one table of the scores, one of the recall per class."""
    head = f"<!-- Written by `{command}`; do not edit. -->\n\n"
    rows = [[PROTOCOLS[str(r["protocol"])], r["n"], r["arm"], f"{r['accuracy']:.1f} %", f"{r['macro_f1']:.3f}",
             f"{r['uar']:.1f} %", " / ".join(f"{r[f'uar_{c}']:.1f}" for c in CORPORA) + " %"] for r in records]
    scores = tables.markdown(("validation predictions", "n", "arm", "accuracy", "macro-F1", "UAR",
                              "UAR: CREMA-D / RAVDESS / SAVEE"), rows, align="lrlrrrl")
    labels = list(records[0]["recall"])  # type: ignore[call-overload]
    rows = [[PROTOCOLS[str(r["protocol"])], r["arm"]] + [f"{r['recall'][c]:.1f}" for c in labels]  # type: ignore[index]
            for r in records]
    recall = tables.markdown(["validation predictions", "arm"] + [f"{c} (%)" for c in labels], rows,
                             align="ll" + "r" * len(labels))
    return head + "Scores\n\n" + scores + "\nRecall per class\n\n" + recall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write probe.json and table.md into this folder")
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
    split = json.loads((DOCS / "split.json").read_text(encoding="utf-8"))
    protocols = {
        "holdout": [(np.flatnonzero(np.isin(speakers, split["train_speakers"])),
                     np.flatnonzero(np.isin(speakers, split["val_speakers"])))],
        "folds": [(s.train, s.val) for s in split_lib.speaker_kfold_by_corpus(clips, k=4, seed=0, val_fraction=0.1)],
    }
    normalised = per_speaker(feat, speakers)

    def fit_predict(arm: str, train: np.ndarray, held: np.ndarray) -> np.ndarray:
        x = StandardScaler().fit(feat[train]).transform(feat) if arm == "G" else normalised
        model = LogisticRegression(C=1.0, max_iter=3000, class_weight="balanced").fit(x[train], y[train])
        return model.predict(x[held])

    # every (protocol, arm, fold) fit at once, one per core
    tasks = [(protocol, arm, train, held) for protocol, folds in protocols.items() for arm in ("G", "S")
             for train, held in folds]
    done = Parallel(n_jobs=-1)(delayed(fit_predict)(arm, train, held) for _, arm, train, held in tasks)
    records: list[dict[str, object]] = []
    for protocol, folds in protocols.items():
        # a speaker may validate in two folds: pool (fold, clip) predictions, not clips
        val = np.concatenate([v for _, v in folds])
        for arm in ("G", "S"):
            predicted = [p for (pr, a, _, _), p in zip(tasks, done, strict=True) if (pr, a) == (protocol, arm)]
            scores = metrics.evaluate(y[val], np.concatenate(predicted), labels, corpus_of[val])
            line: dict[str, object] = {"protocol": protocol, "folds": len(folds), "n": len(val), "arm": arm,
                                       "accuracy": round(100 * scores.accuracy, 1), "uar": round(100 * scores.uar, 1),
                                       "macro_f1": round(scores.macro_f1, 3)}
            for corpus in CORPORA:
                line[f"uar_{corpus}"] = round(100 * scores.per_corpus[corpus].uar, 1)
            line["recall"] = {label: round(100 * c.recall, 1) for label, c in scores.per_class.items()}
            print(json.dumps(line))
            records.append(line)
    if args.out:
        command = ("python docs/models/cnn2d-student/search/speaker-normalisation/probe.py --out "
                   "docs/models/cnn2d-student/search/speaker-normalisation")
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "probe.json").write_text(json.dumps({"command": command, "records": records}, indent=2) + "\n",
                                             encoding="utf-8")
        (args.out / "table.md").write_text(render(records, command), encoding="utf-8")
        print(f"wrote {args.out / 'probe.json'} and {args.out / 'table.md'}")


if __name__ == "__main__":
    main()
