"""`serapp-train compare`: several families under one protocol, as a Markdown table with confusion matrices.

Every family is trained with :func:`serapp_train.training.train_run` (each run keeps its own folder under ``runs/``)
on the same folds, seed and corpora. The table ranks the families on their mean scores over the folds' *validation*
speakers (drawn from each fold's training speakers, as the trainer recorded them: what a choice between families may
use), gives the parameter count and the time of one inference (onnxruntime, one thread, on the exported ONNX model;
the scikit-learn baselines, which cannot be exported, are timed with their own ``predict_proba``, and the table says
which), and prints the test scores in one separate column, labelled *reported only*: they never rank.
``compare.json`` written before validation figures were recorded is still read; its rows say ``n/a`` there.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from serapp.atomic import write_text
from serapp.errors import SerappError

from .config import KFOLD_PROTOCOLS, PROTOCOL_TABLE, TrainConfig
from .configargs import add_config_arguments, add_runtime_arguments, config_from_args
from .jsonfile import write_json
from .models import CLASSICAL, ENCODER_FAMILIES, FAMILIES, IMAGENET_FAMILIES
from .runfolder import RunFolder
from .training import RunResult, train_run

# encoder families need the whisper extra and take no augmentation: named with --families when wanted
DEFAULT_FAMILIES: tuple[str, ...] = (*(f for f in FAMILIES if f not in (*IMAGENET_FAMILIES, *ENCODER_FAMILIES)),
                                     *CLASSICAL)
DEFAULT_OUT = Path("docs/compare")

# The strongest model of the project's seed work, as published; shown beside ours, never mixed with them.
PUBLISHED_SEED: dict[str, Any] = {
    "model": "CNN-BiLSTM + attention (published seed)",
    "accuracy": 0.76,
    "macro_f1": 0.753,
    "protocol": "random clip-level split (speaker-dependent), six corpora",
}


@dataclass
class FamilyResult:
    """One family's runs (one per fold) and its inference timing."""

    family: str
    runs: list[RunResult] = field(default_factory=list)
    ms_per_inference: float | None = None
    timed_with: str = ""

    def mean(self, key: str) -> tuple[float, float]:
        """Mean and standard deviation over folds of a top-level test score."""
        values = np.array([r.metrics[key] for r in self.runs], dtype=np.float64)
        return float(values.mean()), float(values.std())

    def corpus_uar(self, corpus: str) -> float | None:
        """Mean UAR on ``corpus`` over the folds whose test set holds it (None when none does)."""
        values = [r.metrics["per_corpus"][corpus]["uar"] for r in self.runs if corpus in r.metrics["per_corpus"]]
        return float(np.mean(values)) if values else None

    def validation(self) -> dict[str, Any] | None:
        """Mean and standard deviation over folds of the validation scores (``loss``: best validation loss, None
        without ``history.json``, e.g. scikit-learn) and each corpus's validation UAR, from the run folders (see
        :meth:`serapp_train.runfolder.RunFolder.validation`); None when a run has no validation record."""
        records = [RunFolder(run.run_dir).validation() for run in self.runs]
        if any(record is None for record in records):
            return None
        return summarise_validation([r for r in records if r is not None])

    @property
    def confusion(self) -> np.ndarray:
        """Confusion counts summed over folds, ``(n_labels, n_labels)``."""
        return np.sum([np.asarray(r.metrics["confusion"]) for r in self.runs], axis=0)


# ---------------------------------------------------------------------------------------------- timing
def median_ms(call: Callable[[], Any], repeats: int = 50, warmup: int = 5) -> float:
    """Median wall time of ``call()`` in milliseconds, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times))


def time_inference(result: RunResult, repeats: int = 50) -> tuple[float, str]:
    """Milliseconds for one example, and what ran it: onnxruntime (1 intra-op thread, spinning off) on the
    exported model; else scikit-learn ``predict_proba`` or a direct Keras call (batch of one)."""
    x = np.ascontiguousarray(result.probe_inputs[:1], dtype=np.float32)
    if result.onnx_path is not None:
        import onnxruntime as ort

        from serapp.engine.model import session_options

        session = ort.InferenceSession(str(result.onnx_path), session_options(), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return median_ms(lambda: session.run(None, {name: x}), repeats), "onnxruntime"
    model = result.model
    if hasattr(model, "predict_proba"):
        return median_ms(lambda: model.predict_proba(x), repeats), "scikit-learn"
    return median_ms(lambda: model(x, training=False), repeats), "keras"


# ---------------------------------------------------------------------------------------------- table
SCORES: tuple[str, ...] = ("accuracy", "macro_f1", "weighted_f1", "uar")
# What the table ranks families on: this mean validation score, higher first. Test scores never rank.
RANKED_ON = "uar"
NOT_RECORDED = "n/a"


def summarise_validation(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean and standard deviation over folds of each validation record's scores and loss (None where a fold
    has none) and mean per-corpus UAR over the folds that validate on that corpus. ``records``: one per fold,
    as :meth:`serapp_train.runfolder.RunFolder.validation` returns them."""
    summary: dict[str, Any] = {}
    for key in ("loss", *SCORES):
        values = [r.get(key) for r in records]
        known = all(v is not None for v in values)
        summary[key] = float(np.mean(values)) if known else None
        summary[f"{key}_std"] = float(np.std(values)) if known else None
    corpora = sorted({c for r in records for c in r.get("per_corpus", {})})
    summary["per_corpus_uar"] = {c: float(np.mean([r["per_corpus"][c]["uar"] for r in records
                                                   if c in r.get("per_corpus", {})])) for c in corpora}
    summary["n"] = [r.get("n") for r in records]
    return summary


def ranking(families: dict[str, dict[str, Any]]) -> list[str]:
    """Families in table order: those with validation figures by mean validation :data:`RANKED_ON`, best first,
    then those without (older ``compare.json``), in their recorded order."""
    ranked = [f for f, e in families.items() if (e.get("validation") or {}).get(RANKED_ON) is not None]
    ranked.sort(key=lambda f: -families[f]["validation"][RANKED_ON])
    return ranked + [f for f in families if f not in ranked]


def family_entry(r: FamilyResult, corpora: Sequence[str]) -> dict[str, Any]:
    """One family's row of ``compare.json``: the scores (mean and standard deviation over folds), timing,
    epochs run per fold, per-corpus UAR and the confusion counts summed over folds."""
    entry: dict[str, Any] = {
        "runs": [str(run.run_dir) for run in r.runs], "n_params": r.runs[0].n_params,
        "ms_per_inference": r.ms_per_inference, "timed_with": r.timed_with,
        "seconds_per_epoch": [run.metrics["seconds_per_epoch"] for run in r.runs],
        "epochs_run": [len(run.seconds_per_epoch) for run in r.runs], "max_epochs": r.runs[0].config.epochs,
        "per_corpus_uar": {c: r.corpus_uar(c) for c in corpora}, "confusion": r.confusion.tolist(),
        "confusion_png": f"confusion-{r.family}.png"}
    for key in SCORES:  # test scores, reported only
        entry[key], entry[f"{key}_std"] = r.mean(key)
    entry["validation"] = r.validation()
    return entry


def _fmt(entry: dict[str, Any] | None, key: str, folds: int) -> str:
    """A score cell: mean (± standard deviation over folds), or ``n/a`` when it was not recorded."""
    if entry is None or entry.get(key) is None:
        return NOT_RECORDED
    mean, std = entry[key], entry.get(f"{key}_std")
    return f"{mean:.3f} ± {std:.3f}" if folds > 1 and std is not None else f"{mean:.3f}"


def _epochs(entry: dict[str, Any]) -> tuple[str, str]:
    """("run / max" epochs, mean seconds per epoch) cells; dashes for the scikit-learn baselines."""
    seconds = [s for s in entry["seconds_per_epoch"] if s is not None]
    if not seconds:
        return "—", "—"
    run = "/".join(str(n) for n in entry["epochs_run"])
    return f"{run} / {entry['max_epochs']}", f"{np.mean(seconds):.3g}"


def protocol_text(config: TrainConfig, folds: Sequence[int]) -> str:
    """A plain sentence saying how the numbers were obtained (the epoch budget is given per row)."""
    protocol = PROTOCOL_TABLE[config.protocol]
    fold_text = f", fold{'s' if len(folds) > 1 else ''} {', '.join(map(str, folds))}" if protocol.folds else ""
    limit = f", at most {config.limit} clips per corpus" if config.limit else ""
    return (f"{protocol.describe(config.k, config.test_fraction)}{fold_text}{limit}; seed {config.seed}, early "
            "stopping on validation "
            f"speakers drawn from the training speakers, imbalance: {config.imbalance}. Test speakers are never "
            "seen in training or validation" + ("." if config.protocol != "random" else
                                                  " — except under this random split."))


def markdown_table(report: dict[str, Any]) -> str:
    """``compare.json`` content as Markdown: the protocol, our rows ranked on validation speakers with the test
    scores in one column reported only, the published seed row, the PNG links."""
    config = TrainConfig.from_dict(report["config"])
    folds, corpora, families = report["folds"], report["corpora"], report["families"]
    n = len(folds)
    val_corpora = sorted({c for e in families.values() for c in (e.get("validation") or {}).get("per_corpus_uar", {})})
    test_head = "test (reported only): accuracy / macro-F1 / UAR; UAR per corpus"
    head = ["rank", "model", "parameters", "ms / inference", "epochs (run / max)", "s / epoch", "val loss",
            "val accuracy", "val macro-F1", "val UAR", *(f"val UAR {c}" for c in val_corpora), test_head]
    rows = []
    order = ranking(families)
    for family in order:
        e = families[family]
        val = e.get("validation")
        ms = f"{e['ms_per_inference']:.3g} ({e['timed_with']})" if e["ms_per_inference"] is not None else "—"
        params = f"{e['n_params']:,}" if e["n_params"] else "— (scikit-learn)"
        rank = str(order.index(family) + 1) if val and val.get(RANKED_ON) is not None else "—"
        loss = NOT_RECORDED if val is None else "—" if val.get("loss") is None else _fmt(val, "loss", n)
        per_corpus = [NOT_RECORDED if val is None else f"{v:.3f}" if (v := val["per_corpus_uar"].get(c)) is not None
                      else "—" for c in val_corpora]
        test = " / ".join(_fmt(e, key, n) for key in ("accuracy", "macro_f1", "uar")) + "; " + ", ".join(
            f"{c} {v:.3f}" if (v := e["per_corpus_uar"].get(c)) is not None else f"{c} —" for c in corpora)
        rows.append([rank, family, params, ms, *_epochs(e), loss, _fmt(val, "accuracy", n), _fmt(val, "macro_f1", n),
                     _fmt(val, "uar", n), *per_corpus, test])
    seed = PUBLISHED_SEED
    rows.append(["—", f"*{seed['model']}*", "—", "—", "—", "—", "—", "—", "—", "—", *("—" for _ in val_corpora),
                 f"*{seed['accuracy']:.2f}* / *{seed['macro_f1']:.3f}* / —"])
    notes = [f"- {family}: {note}" for family, note in report.get("notes", {}).items()]
    unranked = [f for f in order if (families[f].get("validation") or {}).get(RANKED_ON) is None]
    lines = [
        "# Model comparison",
        "",
        f"**Protocol (our rows):** {protocol_text(config, folds)} Corpora tested: {', '.join(corpora)}.",
        "",
        f"**Ranked on validation speakers.** Rows are ordered by mean validation {RANKED_ON.upper()}: each fold's "
        "validation speakers are drawn from its training speakers and used for early stopping and calibration, so "
        "they are what a choice between families may use. The last column, the test speakers' scores, is **reported "
        "only**: it never ranks, and a choice made on it is not a speaker-independent result.",
        "",
        *([f"**Not ranked ({NOT_RECORDED}):** {', '.join(unranked)}. Their `compare.json` was written before "
           "`serapp-train compare` recorded validation figures, and their run folders are not kept, so they have "
           "no validation figures to rank on; their test column must not stand in for them.", ""]
          if unranked else []),
        f"**Published seed row (italics):** {seed['protocol']}. Its figures are quoted, not reproduced, and are "
        "**not comparable** with ours: with a random split the test clips come from speakers the model was "
        "trained on, which inflates scores; our rows test only on unseen speakers"
        + (" (except for this random-split run)." if config.protocol == "random" else "."),
        "",
        "Scores are means over the folds run" + (" (± standard deviation)" if n > 1 else "")
        + "; UAR is unweighted average recall; per-corpus validation UAR is over the folds that validate on that "
        "corpus; the validation loss is each fold's best epoch's (none for scikit-learn). Inference time is for "
        "one example (batch of one) on this machine's CPU; the column says what "
        "ran it (onnxruntime with one thread on the exported ONNX model, or scikit-learn for the baselines "
        "that cannot be exported). Seconds per epoch are training time on the full training folds on this "
        "2-core CPU (TensorFlow backend), features cached, augmentation on the fly.",
        "",
        "| " + " | ".join(head) + " |",
        "| " + " | ".join("---" for _ in head) + " |",
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
        "Confusion matrices (test speakers, reported only; summed over folds): " + ", ".join(
            f"[{family}]({families[family]['confusion_png']})" for family in order) + ".",
        "",
        *([*notes, ""] if notes else []),
    ]
    return "\n".join(lines)


# what one family's row may set for itself in a merged table (each row shows its epochs; the rest is the family's)
_MAY_DIFFER = frozenset({"family", "epochs", "spec", "model_options", "dropout"})


def merge_reports(folders: Sequence[Path], out: Path, notes: dict[str, str] | None = None) -> dict[str, Any]:
    """One table from several ``compare`` outputs made under the same protocol, folds, seed and corpora
    (families may differ in epochs; each row says its own). Writes ``out/README.md`` and ``out/compare.json``
    with confusion links relative to ``out``; returns the merged report. A family in two folders is an error.
    """
    merged: dict[str, Any] | None = None
    for folder in folders:
        path = Path(folder) / "compare.json"
        try:
            report = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise SerappError(f"Cannot read {path}: {exc}.") from exc
        rel = os.path.relpath(Path(folder), out)
        for e in report["families"].values():
            e["confusion_png"] = str(Path(rel) / e["confusion_png"])
        if merged is None:
            merged = report
            continue
        differ = [k for k in ("protocol", "folds", "corpora", "labels") if report[k] != merged[k]]
        differ += [k for k in sorted(set(report["config"]) | set(merged["config"]))
                   if k not in _MAY_DIFFER and report["config"].get(k) != merged["config"].get(k)]
        if differ:
            raise SerappError(f"{path} was made under another protocol ({', '.join(differ)} differ); "
                              "only comparisons made alike can share a table.")
        twice = sorted(set(report["families"]) & set(merged["families"]))
        if twice:
            raise SerappError(f"{', '.join(twice)} appear in more than one folder; keep one.")
        merged["families"].update(report["families"])
    if merged is None:
        raise SerappError("Name at least one compare folder to merge.")
    merged["merged_from"] = [str(f) for f in folders]
    merged["ranked_on"] = f"validation {RANKED_ON}"
    if notes:
        merged["notes"] = notes
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "README.md", markdown_table(merged))
    write_json(out / "compare.json", merged)
    return merged


# ---------------------------------------------------------------------------------------------- command
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--families", default=",".join(DEFAULT_FAMILIES),
                        help="comma-separated families (default: every non-ImageNet family and the baselines)")
    parser.add_argument("--folds", type=int, default=1,
                        help="run only the first N folds of speaker-kfold / loco (default 1; time grows with N)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (docs/compare/)")
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"), help="parent of the run folders (runs/)")
    parser.add_argument("--repeats", type=int, default=50, help="timed inferences per model (median reported)")
    parser.add_argument("--merge", type=Path, nargs="+", metavar="FOLDER",
                        help="train nothing: join these compare outputs (same protocol) into one table in --out")
    parser.add_argument("--note", action="append", default=[], metavar="FAMILY=TEXT",
                        help="with --merge: a note printed under the table for a family (repeatable)")
    parser.add_argument("--render", action="store_true",
                        help="train nothing: rewrite --out's README.md from its compare.json (e.g. an older one)")
    add_config_arguments(parser, family=False)
    add_runtime_arguments(parser)


def fold_numbers(config: TrainConfig, folds: int) -> list[int]:
    """1-based folds to run: the first ``folds`` of k-fold or leave-one-corpus-out; one for the others."""
    if folds < 1:
        raise SerappError(f"--folds must be at least 1, got {folds}.")
    if config.protocol in KFOLD_PROTOCOLS:
        return list(range(1, min(folds, config.k) + 1))
    return list(range(1, folds + 1)) if config.protocol == "loco" else [1]


def compare(configs: Sequence[TrainConfig], folds: Sequence[int], out: Path, *, root: Path | None = None,
            runs_dir: Path = Path("runs"), repeats: int = 50, workers: int = 1, extract_workers: int | None = None,
            verbose: int = 1) -> list[FamilyResult]:
    """Train each config (one per family, same protocol) on each fold, then write ``README.md``,
    ``compare.json`` and one confusion PNG per family into ``out``. Returns the results."""
    from . import metrics

    base = configs[0]
    results: list[FamilyResult] = []
    for family_config in configs:
        result = FamilyResult(family_config.family)
        for fold in folds:
            config = family_config.replace(fold=fold)
            result.runs.append(train_run(config, root=root, runs_dir=runs_dir, export=True, export_required=False,
                                         workers=workers, extract_workers=extract_workers, verbose=verbose))
        result.ms_per_inference, result.timed_with = time_inference(result.runs[0], repeats)
        results.append(result)
    out.mkdir(parents=True, exist_ok=True)
    corpora = sorted({c for r in results for run in r.runs for c in run.metrics["per_corpus"]})
    labels = results[0].runs[0].metrics["labels"]
    for r in results:
        metrics.plot_confusion(r.confusion, labels, out / f"confusion-{r.family}.png",
                               title=f"{r.family} — {base.protocol} (test, {len(folds)} fold(s))")
    report = {"protocol": base.protocol, "folds": list(folds), "config": base.to_dict(), "corpora": corpora,
              "labels": labels, "published_seed": PUBLISHED_SEED, "ranked_on": f"validation {RANKED_ON}",
              "families": {r.family: family_entry(r, corpora) for r in results}}
    write_json(out / "compare.json", report)
    write_text(out / "README.md", markdown_table(report))
    return results


def render(folder: Path) -> dict[str, Any]:
    """Rewrite ``folder/README.md`` from ``folder/compare.json`` (any version) and return the report."""
    path = Path(folder) / "compare.json"
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SerappError(f"Cannot read {path}: {exc}.") from exc
    write_text(Path(folder) / "README.md", markdown_table(report))
    return report


def run(args: argparse.Namespace) -> int:
    if args.render:
        render(args.out)
        print(f"wrote {args.out / 'README.md'}")
        return 0
    if args.merge:
        notes = dict(note.split("=", 1) for note in args.note if "=" in note)
        if len(notes) != len(args.note):
            raise SerappError("--note takes FAMILY=TEXT.")
        merge_reports(args.merge, args.out, notes)
        print(f"wrote {args.out / 'README.md'}")
        return 0
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    known = (*FAMILIES, *CLASSICAL)
    unknown = [f for f in families if f not in known]
    if unknown or not families:
        raise SerappError(f"Unknown famil{'ies' if len(unknown) > 1 else 'y'} {', '.join(unknown) or '(none)'}; "
                          f"known: {', '.join(known)}.")
    # each family keeps its own default features; --spec-set changes apply to each of them
    configs = [config_from_args(args, family=family) for family in families]
    if configs[0].all_speakers:
        raise SerappError("compare evaluates on test speakers; --all-speakers has none. Drop it.")
    folds = fold_numbers(configs[0], args.folds)
    compare(configs, folds, args.out, root=args.root, runs_dir=args.runs_dir, repeats=args.repeats,
            workers=args.workers, extract_workers=args.extract_workers, verbose=0 if args.quiet else 1)
    print(f"wrote {args.out / 'README.md'}")
    return 0
