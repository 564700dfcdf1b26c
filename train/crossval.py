"""`serapp-train crossval`: the folds of one k-fold cross-validation, scored on their exported ONNX models and
pooled into per-corpus figures.

Give it the run folders of every fold (``serapp-train train --protocol corpus-kfold --k K --fold I --export``
for I = 1..K). They must be one configuration but for the fold, cover folds 1..K once each, and test disjoint
speakers, so every speaker is scored exactly once by a model that never trained or tuned on it. Each fold's
``model.onnx`` is scored as the app serves it (:func:`train.evaluate.score`: its own feature spec and
temperature) on that fold's test speakers; the predictions are pooled over the folds for accuracy, macro-F1,
UAR and the confusion matrix per corpus, and each fold's per-corpus UAR is listed with mean and spread.
Writes ``crossval.json``, ``README.md`` and confusion PNGs (all corpora and each corpus) to ``--out``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from serapp.errors import SerappError
from serapp.paths import corpora_root

if TYPE_CHECKING:
    from train.corpora import Clip
    from train.evaluate import Scored

# Config fields that differ from fold to fold of one cross-validation.
PER_FOLD: frozenset[str] = frozenset({"fold"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", type=Path, nargs="+", help="the run folder of every fold (each with model.onnx)")
    parser.add_argument("--root", type=Path, default=None, help="corpora folder (default: $SERAPP_CORPORA)")
    parser.add_argument("--out", type=Path, default=Path("runs/crossval"),
                        help="folder for crossval.json, README.md and the confusion PNGs")
    parser.add_argument("--command", default="", help="the command that trained the folds, quoted in README.md")


@dataclass(frozen=True)
class Fold:
    """One fold's run: its folder, 1-based fold number, config (``config.json``) and test speakers."""

    run_dir: Path
    number: int
    config: dict[str, Any]
    test_speakers: frozenset[str]

    @property
    def model_path(self) -> Path:
        return self.run_dir / "model.onnx"


def read_fold(run_dir: Path) -> Fold:
    """A fold from its run folder; a plain error when a file the pooling needs is missing."""
    for name in ("config.json", "split.json", "model.onnx"):
        if not (run_dir / name).is_file():
            hint = " (train with --export, or run serapp-train export on it)" if name == "model.onnx" else ""
            raise SerappError(f"{run_dir}: not a finished fold run, it lacks {name}{hint}.")
    config = json.loads((run_dir / "config.json").read_text())
    speakers = frozenset(json.loads((run_dir / "split.json").read_text()).get("test_speakers", []))
    return Fold(run_dir, int(config.get("fold", 0)), config, speakers)


def check_folds(folds: Sequence[Fold]) -> None:
    """Raise :class:`SerappError` unless the folds make one complete cross-validation."""
    from train.fit import KFOLD_PROTOCOLS

    first = folds[0].config
    if first.get("protocol") not in KFOLD_PROTOCOLS or first.get("all_speakers"):
        raise SerappError(f"{folds[0].run_dir}: protocol {first.get('protocol')!r} is not a k-fold protocol "
                          f"({', '.join(KFOLD_PROTOCOLS)}).")
    shared = {key: value for key, value in first.items() if key not in PER_FOLD}
    for fold in folds[1:]:
        differing = sorted(key for key in set(shared) | set(fold.config) - PER_FOLD
                           if fold.config.get(key) != shared.get(key))
        if differing:
            raise SerappError(f"{fold.run_dir} is not the same cross-validation as {folds[0].run_dir}: "
                              f"{', '.join(differing)} differ.")
    k = int(first["k"])
    numbers = sorted(f.number for f in folds)
    if numbers != list(range(1, k + 1)):
        raise SerappError(f"A {k}-fold cross-validation needs folds 1..{k} once each; got {numbers}.")
    seen: set[str] = set()
    for fold in folds:
        if not fold.test_speakers:
            raise SerappError(f"{fold.run_dir}: fold {fold.number} has no test speakers.")
        if seen & fold.test_speakers:
            raise SerappError(f"{fold.run_dir}: speakers {', '.join(sorted(seen & fold.test_speakers))} are tested "
                              "in two folds.")
        seen |= fold.test_speakers


def score_fold(fold: Fold, clips: Sequence[Clip]) -> Scored:
    """Fold ``fold``'s ONNX model scored on its own test speakers among ``clips`` (clean audio)."""
    from serapp.engine.model import load_model
    from train.evaluate import score

    mine = [c for c in clips if c.speaker in fold.test_speakers]
    if len({c.speaker for c in mine}) < len(fold.test_speakers):
        raise SerappError(f"{fold.run_dir}: some test speakers have no clips in the corpora.")
    return score(load_model(fold.model_path), mine)


def pool(scored: Sequence[Scored]) -> Scored:
    """The folds' predictions as one evaluation: metrics over all their clips, per corpus included."""
    from train import metrics
    from train.evaluate import Condition, Scored

    labels = scored[0].metrics.labels
    if any(s.metrics.labels != labels for s in scored):
        raise SerappError("The folds' models predict different labels; they cannot be pooled.")
    probs = np.concatenate([s.probs for s in scored])
    y = np.concatenate([s.y for s in scored])
    clips = [c for s in scored for c in s.clips]
    result = metrics.evaluate(y, probs, labels, corpora=[c.corpus for c in clips])
    return Scored(result, probs, y, clips, Condition())


def fold_rows(folds: Sequence[Fold], scored: Sequence[Scored], corpora: Sequence[str]) -> list[str]:
    """Markdown rows: each fold's test speakers and UAR per corpus, then mean and standard deviation over folds."""
    head = "| fold | " + " | ".join(f"{c} UAR (speakers)" for c in corpora) + " | all accuracy | all UAR |"
    rows = [head, "|---" * (len(corpora) + 3) + "|"]
    per_corpus: dict[str, list[float]] = {c: [] for c in corpora}
    for fold, s in zip(folds, scored, strict=True):
        cells = []
        for corpus in corpora:
            m = s.metrics.per_corpus.get(corpus)
            if m is None:
                cells.append("—")
                continue
            per_corpus[corpus].append(m.uar)
            n = len({c.speaker for c in s.clips if c.corpus == corpus})
            cells.append(f"{100 * m.uar:.1f} % ({n})")
        rows.append(f"| {fold.number} | " + " | ".join(cells)
                    + f" | {100 * s.metrics.accuracy:.1f} % | {100 * s.metrics.uar:.1f} % |")
    accs = [s.metrics.accuracy for s in scored]
    uars = [s.metrics.uar for s in scored]
    rows.append("| mean ± sd | " + " | ".join(_mean_sd(per_corpus[c]) for c in corpora)
                + f" | {_mean_sd(accs)} | {_mean_sd(uars)} |")
    return rows


def _mean_sd(values: Sequence[float]) -> str:
    if not values:
        return "—"
    return f"{100 * np.mean(values):.1f} ± {100 * np.std(values):.1f} %"


def render(folds: Sequence[Fold], scored: Sequence[Scored], pooled: Scored, pngs: dict[str, Path], out: Path,
           command: str) -> str:
    """README.md of a cross-validation."""
    from train.modelcard import corpus_table, target_table

    config = folds[0].config
    k = len(folds)
    corpora = sorted(pooled.metrics.per_corpus)
    lines = [
        f"# Cross-validation: {config['family']}, {config['protocol']}, {k} folds",
        "",
        f"Speaker-independent: each of {len({c.speaker for c in pooled.clips})} speakers is tested exactly once, "
        "by the fold whose model never trained on it nor used it for early stopping or calibration. "
        f"Each fold's exported ONNX model is scored as the app serves it; the {pooled.metrics.n} predictions "
        "are pooled over the folds.",
        "",
        "## Targets of the default-model issue (pooled over folds)",
        "",
        *target_table(pooled.metrics.to_dict()),
        "",
        "## Per corpus (pooled over folds)",
        "",
        *corpus_table(pooled.metrics.to_dict()),
        "",
        "## Per fold",
        "",
        *fold_rows(folds, scored, corpora),
        "",
        "## Confusion (pooled)",
        "",
        *[f"![{name}]({png.relative_to(out)})" for name, png in pngs.items()],
        "",
        "## Runs",
        "",
        *[f"- fold {f.number}: `{f.run_dir.name}`" for f in folds],
        "",
    ]
    if command:
        lines += ["Trained with:", "", "```", command, "```", ""]
    lines += [f"Written by `serapp-train crossval` over the {k} run folders above.", ""]
    return "\n".join(lines)


def crossval(run_dirs: Sequence[Path], out: Path, *, root: Path | None = None, command: str = "") -> dict[str, Any]:
    """Check, score and pool the folds in ``run_dirs``; write the report to ``out`` and return its JSON content."""
    from serapp.atomic import write_text
    from train import corpora, metrics
    from train.fit import write_json

    folds = sorted((read_fold(Path(r)) for r in run_dirs), key=lambda f: f.number)
    check_folds(folds)
    config = folds[0].config  # the same in every fold but the fold number
    clips = corpora.scan(root or corpora_root(), config.get("corpora"), fold_calm=config.get("fold_calm", True))
    scored = [score_fold(f, clips) for f in folds]
    pooled = pool(scored)
    out.mkdir(parents=True, exist_ok=True)
    pngs = {"all corpora": metrics.plot_confusion(np.asarray(pooled.metrics.confusion), pooled.metrics.labels,
                                                  out / "confusion-all.png", title="all corpora, pooled over folds")}
    for corpus, m in sorted(pooled.metrics.per_corpus.items()):
        pngs[corpus] = metrics.plot_confusion(np.asarray(m.confusion), m.labels, out / f"confusion-{corpus}.png",
                                              title=f"{corpus}, pooled over folds")
    report = {
        "config": {k: v for k, v in folds[0].config.items() if k not in PER_FOLD},
        "runs": [str(f.run_dir) for f in folds],
        "pooled": {**pooled.metrics.to_dict(), "ece": metrics.ece(pooled.probs, pooled.y)},
        "folds": [{"fold": f.number, "run": f.run_dir.name, "test_speakers": sorted(f.test_speakers),
                   **s.metrics.to_dict()} for f, s in zip(folds, scored, strict=True)],
    }
    write_json(out / "crossval.json", report)
    write_text(out / "README.md", render(folds, scored, pooled, pngs, out, command))
    return report


def run(args: argparse.Namespace) -> int:
    from train import metrics

    report = crossval(args.runs, args.out, root=args.root, command=args.command)
    print(metrics.format_report(report["pooled"]))
    print(f"wrote {args.out / 'README.md'}, {args.out / 'crossval.json'} and the confusion PNGs")
    return 0
