"""Speaker adaptation of the frozen Whisper embeddings, measured honestly: does "calibrate to my voice" help?

Standardising each speaker's embeddings with statistics of *all* their clips lifts speaker-independent UAR by
several points, but it is transductive: it needs every recording of a speaker, emotions included, before the
first answer. What a user could give, and what this measures on speakers the classifier never heard:

  - ``none``: the embeddings as they are;
  - ``enrol-N``: the speaker's first ``N`` neutral clips of the session as an enrolment ("read this calmly"):
    their mean is subtracted from every later clip; the enrolment clips themselves are never scored;
  - ``running-N``: no enrolment; the first ``N`` clips of the session, whatever their emotion, give the mean,
    and scoring starts after them;
  - ``transductive``: mean and spread of all the speaker's clips: the upper bound, not a product option.

A *session* is a speaker's clips in a seeded random order (:func:`serapp_train.splits.session_order`). Not file
order: TESS and SAVEE file their clips by emotion, so "the first ten clips" of a TESS speaker are ten angry ones,
and a running mean over them subtracts anger rather than the speaker.

Training speakers get the same treatment as scored speakers (their own enrolment or first clips), so train and
test match. The classifier is the probe's (standardised logistic regression on every layer's mean+std,
:mod:`serapp_train.whisper.probe`); every variant is scored on the same clips (those after every variant's
enrolment or warm-up), so the figures compare. Two parts, as for any choice in this project:

  - ``cv``: speaker folds over the split's non-test speakers (:func:`serapp_train.splits.speaker_kfold_by_corpus`,
    the folds ``serapp-train select`` uses), held-out predictions pooled: what a choice may look at;
  - ``test``: fitted on the training and validation speakers, scored on the test speakers: reported, not chosen on.

``python -m serapp_train.whisper.adaptation --config CONFIG --out DIR`` writes ``DIR/adaptation.json`` and the
table ``DIR/adaptation.md`` rendered from it, and prints the table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from serapp.atomic import write_text
from serapp.errors import SerappError, run_command
from serapp.paths import REPO_ROOT

from ..corpora import Clip
from ..jsonfile import write_json
from ..metrics import uar
from ..splits import session_order

NEUTRAL = "neutral"
SPREAD_FLOOR = 1e-3  # a speaker's per-feature spread below this is treated as this (constant features)
VARIANTS: tuple[str, ...] = ("none", "enrol-3", "enrol-5", "running-10", "running-20", "transductive")
PARTS: dict[str, str] = {
    "cv": "speaker folds over the non-test speakers, held-out predictions pooled (what a choice may look at)",
    "test": "fitted on the training and validation speakers, scored on the test speakers (reported only)",
}


def adapt(x: np.ndarray, clips: Sequence[Clip], rows: np.ndarray, variant: str, *, seed: int = 0
          ) -> tuple[np.ndarray, np.ndarray]:
    """``variant`` applied to ``x[rows]`` ``(n, d)`` speaker by speaker, sessions in :func:`session_order`;
    returns the adapted rows and a mask of those a user of that variant would get an answer for (False:
    enrolment or warm-up clips)."""
    kind, _, n_text = variant.partition("-")
    if kind not in ("none", "transductive", "enrol", "running") or (kind in ("enrol", "running")
                                                                    and not n_text.isdigit()):
        raise SerappError(f"Unknown adaptation {variant!r}: none, enrol-N, running-N or transductive.")
    out = np.array(x[rows], dtype=np.float64)
    scored = np.ones(len(rows), dtype=bool)
    where = {int(r): j for j, r in enumerate(rows)}
    for order in session_order(clips, rows, seed=seed).values():
        j = np.array([where[i] for i in order])
        if kind == "none":
            continue
        if kind == "transductive":
            own = out[j]
            out[j] = (own - own.mean(axis=0)) / np.maximum(own.std(axis=0), SPREAD_FLOOR)
            continue
        n = int(n_text)
        if kind == "enrol":
            used = np.array([k for k, i in zip(j, order, strict=True) if clips[i].label == NEUTRAL][:n], dtype=int)
        else:
            used = j[:n]
        if len(used) == 0:  # a speaker with no neutral clip: no enrolment, no answers either
            scored[j] = False
            continue
        out[j] = out[j] - out[used].mean(axis=0)
        scored[used] = False
    return out, scored


def _fit_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, c: float) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=3000))
    return np.asarray(model.fit(x_train, y_train).predict(x_test))


def _predict_variants(x: np.ndarray, y: np.ndarray, clips: Sequence[Clip], train: np.ndarray, test: np.ndarray,
                      variants: Sequence[str], *, c: float, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Each variant's predictions for ``test`` and the mask of the test clips every variant answers."""
    preds, masks = {}, []
    for v in variants:
        (x_train, _), (x_test, scored) = adapt(x, clips, train, v, seed=seed), adapt(x, clips, test, v, seed=seed)
        preds[v] = _fit_predict(x_train, y[train], x_test, c)
        masks.append(scored)
    return preds, np.logical_and.reduce(masks)


def _figures(y: np.ndarray, pred: np.ndarray, corpora: np.ndarray) -> dict[str, float]:
    return {"all": uar(y, pred), "n": len(y),
            **{k: uar(y[corpora == k], pred[corpora == k]) for k in sorted(set(corpora))}}


def evaluate_variants(x: np.ndarray, y: np.ndarray, clips: Sequence[Clip], train: np.ndarray, test: np.ndarray,
                      variants: Sequence[str], *, c: float = 1.0, seed: int = 0) -> dict[str, dict[str, float]]:
    """UAR (overall and per corpus) on ``test`` for each variant, every variant scored on the test clips that all
    of them answer. ``x`` ``(N, d)``; ``train``/``test`` index arrays (disjoint speakers)."""
    preds, common = _predict_variants(x, y, clips, train, test, variants, c=c, seed=seed)
    corpora = np.array([clips[i].corpus for i in test])
    return {v: _figures(y[test][common], p[common], corpora[common]) for v, p in preds.items()}


def crossvalidate_variants(x: np.ndarray, y: np.ndarray, clips: Sequence[Clip], rows: np.ndarray,
                           variants: Sequence[str], *, k: int = 4, c: float = 1.0, seed: int = 0
                           ) -> dict[str, dict[str, float]]:
    """UAR per variant over ``k`` speaker folds of ``rows`` (:func:`serapp_train.splits.speaker_kfold_by_corpus`),
    each fold's held-out clips that every variant answers, pooled. A corpus with one speaker in ``rows`` always
    trains, so is never scored."""
    from .. import splits

    sub = [clips[i] for i in rows]
    pooled: dict[str, list[np.ndarray]] = {v: [] for v in variants}
    truth: list[np.ndarray] = []
    corpora: list[np.ndarray] = []
    for fold in splits.speaker_kfold_by_corpus(sub, k, seed=seed, val_fraction=0.1):
        train, test = rows[np.sort(np.concatenate([fold.train, fold.val]))], rows[fold.test]
        preds, common = _predict_variants(x, y, clips, train, test, variants, c=c, seed=seed)
        for v, p in preds.items():
            pooled[v].append(p[common])
        truth.append(y[test][common])
        corpora.append(np.array([clips[i].corpus for i in test])[common])
    yt, ct = np.concatenate(truth), np.concatenate(corpora)
    return {v: _figures(yt, np.concatenate(p), ct) for v, p in pooled.items()}


def render(record: dict[str, Any]) -> str:
    """The record's figures as Markdown tables, one per part (UAR in %, clips scored)."""
    lines = [f"Speaker adaptation of the frozen Whisper embeddings (`{record['command']}`; sessions in a random "
             f"order, seed {record['seed']}). UAR over the clips every variant answers.", ""]
    for part, results in record["uar"].items():
        corpora = sorted({key for r in results.values() for key in r if key not in ("all", "n")})
        lines += [f"**{part}**: {PARTS[part]}; {next(iter(results.values()))['n']} clips scored.", "",
                  "| variant | all | " + " | ".join(corpora) + " |",
                  "|---|" + "---:|" * (len(corpora) + 1)]
        lines += [f"| {v} | {100 * r['all']:.1f} % | " + " | ".join(f"{100 * r[c]:.1f} %" for c in corpora) + " |"
                  for v, r in results.items()]
        lines.append("")
    return "\n".join(lines)


def _main(argv: Sequence[str] | None = None) -> int:
    from ..config import TrainConfig
    from ..data import load_data

    parser = argparse.ArgumentParser(prog="python -m serapp_train.whisper.adaptation",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, default=REPO_ROOT / "configs" / "whisper-tiny.json",
                        help="training config whose split is used (default configs/whisper-tiny.json)")
    parser.add_argument("--root", type=Path, default=None, help="corpora folder (default: SERAPP_CORPORA)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--parts", nargs="+", choices=list(PARTS), default=list(PARTS))
    parser.add_argument("--k", type=int, default=4, help="speaker folds of the cv part (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="session order and folds (default 0)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "runs" / "whisper-adaptation",
                        help="folder for adaptation.json and adaptation.md (default runs/whisper-adaptation)")
    args = parser.parse_args(argv)
    config = TrainConfig.from_json(args.config.read_text(encoding="utf-8"))
    if not config.encoder:
        raise SerappError(f"{args.config}: family {config.family} has no cached encoder to adapt.")
    data = load_data(config, args.root)
    x = data.features.reshape(len(data.features), -1)
    known = np.sort(np.concatenate([data.split.train, data.split.val]))
    results: dict[str, dict[str, dict[str, float]]] = {}
    for part in args.parts:
        print(f"{part}: {PARTS[part]} ...", flush=True)
        results[part] = (crossvalidate_variants(x, data.y, data.clips, known, args.variants, k=args.k,
                                                seed=args.seed) if part == "cv" else
                         evaluate_variants(x, data.y, data.clips, known, data.split.test, args.variants,
                                           seed=args.seed))
    record: dict[str, Any] = {"created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                              "command": " ".join(["python -m serapp_train.whisper.adaptation",
                                                   *(argv if argv is not None else sys.argv[1:])]),
                              "config": config.to_dict(), "split": data.split.name, "seed": args.seed,
                              "metric": "UAR over the clips every variant answers", "parts": PARTS,
                              "uar": results}
    args.out.mkdir(parents=True, exist_ok=True)
    table = render(record)
    write_json(args.out / "adaptation.json", record)
    write_text(args.out / "adaptation.md", table)
    print(table)
    print(f"record: {args.out / 'adaptation.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(run_command("python -m serapp_train.whisper.adaptation", lambda: _main()))
