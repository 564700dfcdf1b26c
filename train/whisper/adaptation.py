"""Speaker adaptation of the frozen Whisper embeddings, measured honestly: does "calibrate to my voice" help?

Standardising each speaker's embeddings with statistics of *all* their clips lifts speaker-independent UAR by
several points, but it is transductive: it needs every recording of a speaker, emotions included, before the
first answer. What a user could give, and what this measures on unseen (test) speakers:

  - ``none``: the embeddings as they are;
  - ``enrol-N``: the speaker's first ``N`` neutral clips (in file order) as an enrolment ("read this calmly"):
    their mean is subtracted from every later clip; the enrolment clips themselves are never scored;
  - ``running-N``: no enrolment; the first ``N`` clips of the session, whatever their emotion, give the mean,
    and scoring starts after them;
  - ``transductive``: mean and spread of all the speaker's clips: the upper bound, not a product option.

Training speakers get the same treatment as test speakers (their own enrolment or first clips), so train and
test match. The classifier is the probe's (standardised logistic regression on every layer's mean+std,
:mod:`serapp_train.whisper.probe`), fitted on the split's training and validation speakers and scored on its test
speakers; every variant is scored on the same clips (those after every variant's enrolment or warm-up), so the
figures compare. ``python -m serapp_train.whisper.adaptation --config CONFIG`` writes a JSON record under
``runs/whisper-adaptation/`` and prints the table; figures are quoted from such records.
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
from serapp.errors import SerappError, run_command
from serapp.paths import REPO_ROOT

from ..corpora import Clip
from ..metrics import uar

NEUTRAL = "neutral"
SPREAD_FLOOR = 1e-3  # a speaker's per-feature spread below this is treated as this (constant features)


def session_order(clips: Sequence[Clip], rows: np.ndarray) -> dict[str, list[int]]:
    """``rows`` grouped by speaker, each speaker's in file-path order (the order a session would play them)."""
    out: dict[str, list[int]] = {}
    for i in sorted(rows, key=lambda i: str(clips[i].path)):
        out.setdefault(clips[i].speaker, []).append(int(i))
    return out


def adapt(x: np.ndarray, clips: Sequence[Clip], rows: np.ndarray, variant: str) -> tuple[np.ndarray, np.ndarray]:
    """``variant`` applied to ``x[rows]`` ``(n, d)`` speaker by speaker; returns the adapted rows and a mask of
    those a user of that variant would get an answer for (False: enrolment or warm-up clips)."""
    kind, _, n_text = variant.partition("-")
    out = np.array(x[rows], dtype=np.float64)
    scored = np.ones(len(rows), dtype=bool)
    where = {int(r): j for j, r in enumerate(rows)}
    for order in session_order(clips, rows).values():
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
        elif kind == "running":
            used = j[:n]
        else:
            raise SerappError(f"Unknown adaptation {variant!r}: none, enrol-N, running-N or transductive.")
        if len(used) == 0:  # a speaker with no neutral clip: no enrolment, no answers either
            scored[j] = False
            continue
        out[j] = out[j] - out[used].mean(axis=0)
        scored[used] = False
    return out, scored


def evaluate_variants(x: np.ndarray, y: np.ndarray, clips: Sequence[Clip], train: np.ndarray, test: np.ndarray,
                      variants: Sequence[str], *, c: float = 1.0) -> dict[str, dict[str, float]]:
    """UAR (overall and per corpus) on ``test`` for each variant, every variant scored on the test clips that all
    of them answer. ``x`` ``(N, d)``; ``train``/``test`` index arrays (disjoint speakers)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    adapted = {v: (adapt(x, clips, train, v), adapt(x, clips, test, v)) for v in variants}
    common = np.logical_and.reduce([scored for _, (_, scored) in adapted.values()])
    corpora = np.array([clips[i].corpus for i in test])
    results: dict[str, dict[str, float]] = {}
    for v, ((x_train, _), (x_test, _)) in adapted.items():
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=3000))
        pred = model.fit(x_train, y[train]).predict(x_test)
        yt = y[test]
        results[v] = {"all": uar(yt[common], pred[common]), "n": int(common.sum()),
                      **{k: uar(yt[common & (corpora == k)], pred[common & (corpora == k)])
                         for k in sorted(set(corpora[common]))}}
    return results


def _main(argv: Sequence[str] | None = None) -> int:
    from ..config import TrainConfig
    from ..data import load_data

    parser = argparse.ArgumentParser(prog="python -m serapp_train.whisper.adaptation",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, default=REPO_ROOT / "configs" / "whisper-tiny.json",
                        help="training config whose split is used (default configs/whisper-tiny.json)")
    parser.add_argument("--root", type=Path, default=None, help="corpora folder (default: SERAPP_CORPORA)")
    parser.add_argument("--variants", nargs="+",
                        default=["none", "enrol-3", "enrol-5", "running-5", "running-10", "transductive"])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "runs" / "whisper-adaptation")
    args = parser.parse_args(argv)
    config = TrainConfig.from_json(args.config.read_text(encoding="utf-8"))
    if not config.encoder:
        raise SerappError(f"{args.config}: family {config.family} has no cached encoder to adapt.")
    data = load_data(config, args.root)
    x = data.features.reshape(len(data.features), -1)
    train = np.sort(np.concatenate([data.split.train, data.split.val]))
    results = evaluate_variants(x, data.y, data.clips, train, data.split.test, args.variants)
    record: dict[str, Any] = {"created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                              "command": " ".join(["python -m serapp_train.whisper.adaptation",
                                                   *(argv or sys.argv[1:])]),
                              "config": config.to_dict(), "split": data.split.name,
                              "metric": "UAR on the split's test speakers, clips every variant answers",
                              "uar": results}
    path = args.out / f"adaptation-{record['created'].replace(':', '')}.json"
    with replacing(path) as tmp:
        tmp.write_text(json.dumps(record, indent=1), encoding="utf-8")
    corpora = sorted({k for r in results.values() for k in r if k not in ("all", "n")})
    print(f"{'variant':>14}  {'all':>6}  " + "  ".join(f"{k:>8}" for k in corpora))
    for v, r in results.items():
        print(f"{v:>14}  {100 * r['all']:5.1f}%  " + "  ".join(f"{100 * r[k]:7.1f}%" for k in corpora))
    print(f"scored clips: {next(iter(results.values()))['n']}; record: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_command("python -m serapp_train.whisper.adaptation", lambda: _main()))
