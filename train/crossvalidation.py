"""Cross-validation: the folds of one k-fold cross-validation, checked, scored on their exported ONNX models and
pooled into per-corpus figures, and the report written (what `serapp-train crossval` and a recipe's ``crossval``
step, :mod:`serapp_train.recipe`, run).

The folds are run folders (``serapp-train train --protocol corpus-kfold --k K --fold I --export`` for I = 1..K).
They must be one configuration but for the fold, cover folds 1..K once each, and test disjoint speakers, so every
speaker is scored exactly once by a model that never trained or tuned on it. Each fold's ``model.onnx`` is scored as
the app serves it (:func:`serapp_train.scoring.score`: its own feature spec and temperature) on that fold's test
speakers; the predictions are pooled over the folds for accuracy, macro-F1, UAR and the confusion matrix per corpus,
and each fold's per-corpus UAR is listed with mean and spread. :func:`crossval` writes ``crossval.json``,
``README.md`` and confusion PNGs (all corpora and each corpus) to its ``out`` folder.

The report also lists each fold's *validation* scores, as the trainer recorded them on the fold's validation
speakers (``metrics.json``, best validation loss from ``history.json``), with their mean: that is what a search
over recipes may select on, never the pooled test figures. ``validation_only`` writes that part alone (no ONNX model
or corpora needed), to compare candidate recipes before scoring the chosen one.

``member_groups`` adds other recipes' fold runs: each fold then predicts the mean calibrated probability of its
models, so the report scores an ensemble (e.g. a distillation teacher), on the validation speakers too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from serapp.errors import SerappError
from serapp.paths import corpora_root

from .runfolder import CONFIG, MODEL_ONNX, SPLIT, RunFolder
from .tables import pct

if TYPE_CHECKING:
    from .corpora import Clip
    from .scoring import Scored

# Config fields that differ from fold to fold of one cross-validation.
PER_FOLD: frozenset[str] = frozenset({"fold"})


@dataclass(frozen=True)
class Fold:
    """One fold's run: its folder, 1-based fold number, config (``config.json`` as recorded), test and validation
    speakers, and its validation record (:meth:`RunFolder.validation`; None for runs that predate it)."""

    run_dir: Path
    number: int
    config: dict[str, Any]
    test_speakers: frozenset[str]
    val_speakers: frozenset[str]
    validation: dict[str, Any] | None

    @property
    def model_path(self) -> Path:
        return RunFolder(self.run_dir).model_path


def read_fold(run_dir: Path, *, scored: bool = True) -> Fold:
    """A fold from its run folder; a plain error when a file the report needs is missing (``model.onnx`` only
    when ``scored``, the validation record only when not)."""
    folder = RunFolder(run_dir)
    for name in folder.missing((CONFIG, SPLIT, *((MODEL_ONNX,) if scored else ()))):
        hint = " (train with --export, or run serapp-train export on it)" if name == MODEL_ONNX else ""
        raise SerappError(f"{run_dir}: not a finished fold run, it lacks {name}{hint}.")
    config = folder.config_record()
    validation = folder.validation()
    if not scored and validation is None:
        raise SerappError(f"{run_dir}: the run has no validation scores (metrics.json lacks 'validation'); "
                          "it predates them, so retrain it.")
    return Fold(run_dir, int(config.get("fold", 0)), config, folder.speakers("test"), folder.speakers("val"),
                validation)


def recipe(config: dict[str, Any], val_speakers: set[str], test_speakers: set[str]) -> dict[str, Any]:
    """A fold run's configuration without its fold number, each teacher (a path, which differs from fold to fold)
    replaced by the teacher's own recipe. The whole teacher tree is checked for leaks into the student's
    ``val_speakers`` and ``test_speakers`` by :func:`serapp_train.distill.teacher_tree`, the check training runs too:
    one of another fold has learnt this fold's test speakers, and the student would learn them from it."""
    from .distill import Teacher, teacher_tree

    def shape(own: dict[str, Any], teachers: Sequence[Teacher]) -> dict[str, Any]:
        shared = {key: value for key, value in own.items() if key not in PER_FOLD}
        return {**shared, "teachers": [shape(t.config, t.teachers) for t in teachers]} if "teachers" in own \
            else shared

    return shape(config, teacher_tree(config.get("teachers") or [], val_speakers, test_speakers))


def check_folds(folds: Sequence[Fold]) -> None:
    """Raise :class:`SerappError` unless the folds make one complete cross-validation."""
    from .config import KFOLD_PROTOCOLS

    first = folds[0].config
    if first.get("protocol") not in KFOLD_PROTOCOLS or first.get("all_speakers"):
        raise SerappError(f"{folds[0].run_dir}: protocol {first.get('protocol')!r} is not a k-fold protocol "
                          f"({', '.join(KFOLD_PROTOCOLS)}).")
    shared = recipe(first, set(folds[0].val_speakers), set(folds[0].test_speakers))
    for fold in folds[1:]:
        own = recipe(fold.config, set(fold.val_speakers), set(fold.test_speakers))
        differing = sorted(key for key in set(shared) | set(own) if own.get(key) != shared.get(key))
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


def fold_members(folds: Sequence[Fold], groups: Sequence[Sequence[Path]]) -> dict[int, list[Path]]:
    """Each fold number's ensemble members' ``model.onnx``: from every group (another recipe's fold runs), the
    run of that fold, which must test and validate on the same speakers."""
    by_number = {f.number: f for f in folds}
    members: dict[int, list[Path]] = {n: [] for n in by_number}
    for group in groups:
        others = sorted((read_fold(Path(r)) for r in group), key=lambda f: f.number)
        check_folds(others)
        if [o.number for o in others] != sorted(by_number):
            raise SerappError(f"The member runs {', '.join(str(o.run_dir) for o in others)} are not one run per "
                              f"fold 1..{len(folds)}.")
        for other in others:
            fold = by_number[other.number]
            if (other.test_speakers, other.val_speakers) != (fold.test_speakers, fold.val_speakers):
                raise SerappError(f"{other.run_dir} splits the speakers differently from {fold.run_dir}: an "
                                  "ensemble's models must share each fold's test and validation speakers.")
            members[other.number].append(other.model_path)
    return members


def score_fold(fold: Fold, clips: Sequence[Clip], members: Sequence[Path] = (), part: str = "test") -> Scored:
    """Fold ``fold``'s ONNX model (averaged with the ``members`` models, if any) scored on its own ``part``
    speakers (``test`` or ``val``) among ``clips`` (clean audio)."""
    from serapp.engine.model import load_model

    from .scoring import score

    speakers = fold.test_speakers if part == "test" else fold.val_speakers
    mine = [c for c in clips if c.speaker in speakers]
    if len({c.speaker for c in mine}) < len(speakers):
        raise SerappError(f"{fold.run_dir}: some {part} speakers have no clips in the corpora.")
    return score(load_model(fold.model_path), mine, members=[load_model(p) for p in members])


def ensemble_validation(fold: Fold, clips: Sequence[Clip], members: Sequence[Path]) -> dict[str, Any] | None:
    """The validation record (as :meth:`RunFolder.validation`) of the fold's ensemble, scored on its validation
    speakers; no loss, as the trainer's is one model's. None when the fold has no validation speakers."""
    if not fold.val_speakers:
        return None
    result = score_fold(fold, clips, members, part="val").metrics.to_dict()
    return {**{k: result[k] for k in ("accuracy", "macro_f1", "uar", "per_corpus", "n")}, "loss": None}


def pool(scored: Sequence[Scored]) -> Scored:
    """The folds' predictions as one evaluation: metrics over all their clips, per corpus included."""
    from . import metrics
    from .scoring import Condition, Scored

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
            cells.append(f"{pct(m.uar)} ({n})")
        rows.append(f"| {fold.number} | " + " | ".join(cells)
                    + f" | {pct(s.metrics.accuracy)} | {pct(s.metrics.uar)} |")
    accs = [s.metrics.accuracy for s in scored]
    uars = [s.metrics.uar for s in scored]
    rows.append("| mean ± sd | " + " | ".join(_mean_sd(per_corpus[c]) for c in corpora)
                + f" | {_mean_sd(accs)} | {_mean_sd(uars)} |")
    return rows


def _mean_sd(values: Sequence[float], percent: bool = True) -> str:
    if not values:
        return "—"
    if not percent:
        return f"{np.mean(values):.3f} ± {np.std(values):.3f}"
    return f"{100 * np.mean(values):.1f} ± {100 * np.std(values):.1f} %"


VALIDATION_FIGURES: tuple[str, ...] = ("loss", "accuracy", "macro_f1", "uar")


def summarise_validation(folds: Sequence[Fold]) -> dict[str, Any] | None:
    """Each fold's validation record and the mean over folds of loss, accuracy, macro-F1, UAR and each corpus's
    UAR (over the folds that validate on that corpus); None unless every fold has a record."""
    if any(f.validation is None for f in folds):
        return None
    records = [{"fold": f.number, "run": f.run_dir.name, "val_speakers": sorted(f.val_speakers), **(f.validation or {})}
               for f in folds]

    def mean_of(values: list[float]) -> float | None:
        return float(np.mean(values)) if values else None  # None, not NaN: e.g. runs without history.json

    mean: dict[str, Any] = {k: mean_of([r[k] for r in records if r.get(k) is not None]) for k in VALIDATION_FIGURES}
    corpora = sorted({c for r in records for c in r.get("per_corpus", {})})
    mean["per_corpus_uar"] = {c: mean_of([r["per_corpus"][c]["uar"] for r in records if c in r.get("per_corpus", {})])
                              for c in corpora}
    return {"folds": records, "mean": mean}


def validation_rows(summary: dict[str, Any]) -> list[str]:
    """Markdown rows: each fold's validation figures and per-corpus UAR, then mean ± sd over folds."""
    corpora = sorted(summary["mean"]["per_corpus_uar"])
    head = ("| fold | validation speakers | loss | accuracy | macro-F1 | UAR | "
            + " | ".join(f"{c} UAR" for c in corpora) + " |")
    rows = [head, "|---" * (len(corpora) + 6) + "|"]
    for f in summary["folds"]:
        per = f.get("per_corpus", {})
        loss = "—" if f.get("loss") is None else f"{f['loss']:.3f}"
        rows.append(f"| {f['fold']} | {len(f['val_speakers'])} | {loss} | {pct(f['accuracy'])} | "
                    f"{f['macro_f1']:.3f} | {pct(f['uar'])} | "
                    + " | ".join(pct(per[c]["uar"]) if c in per else "—" for c in corpora) + " |")
    folds = summary["folds"]

    def spread(key: str, percent: bool = True) -> str:
        return _mean_sd([f[key] for f in folds if f.get(key) is not None], percent)

    rows.append(f"| mean ± sd | | {spread('loss', False)} | {spread('accuracy')} | "
                f"{spread('macro_f1', False)} | {spread('uar')} | "
                + " | ".join(_mean_sd([f["per_corpus"][c]["uar"] for f in folds if c in f.get("per_corpus", {})])
                             for c in corpora) + " |")
    return rows


def validation_section(summary: dict[str, Any] | None) -> list[str]:
    """README lines on the folds' validation scores (empty without a summary)."""
    if summary is None:
        return []
    return ["## Validation speakers (what a search may select on)", "",
            "Each fold's scores on its own validation speakers (drawn from its training speakers, used for early "
            "stopping and calibration), as the trainer recorded them; the loss is the best epoch's. Recipes are "
            "compared on these means, never on test figures.", "",
            *validation_rows(summary), ""]


def _runs_section(folds: Sequence[Fold], command: str, members: dict[int, list[Path]] | None = None) -> list[str]:
    members = members or {}

    def listed(fold: Fold) -> str:
        extra = "".join(f", `{p.parent.parent.name}/{p.parent.name}`" for p in members.get(fold.number, []))
        # The parent too: the folds of a distilled recipe all name their student run `student`.
        return f"- fold {fold.number}: `{fold.run_dir.parent.name}/{fold.run_dir.name}`{extra}"

    lines = ["## Runs", "", *map(listed, folds), ""]
    if any(members.values()):
        lines += ["Each fold's prediction is the mean of the calibrated probabilities of the runs listed for it "
                  "(an ensemble); so are its validation scores, which have no loss (the trainer's is one model's).", ""]
    if command:
        lines += ["Trained with:", "", "```", command, "```", ""]
    return [*lines, f"Written by `serapp-train crossval` over the {len(folds)} run folders above.", ""]


def render_validation(folds: Sequence[Fold], summary: dict[str, Any], command: str) -> str:
    """README.md of ``--validation-only``: the folds' validation scores, no test figures."""
    config = folds[0].config
    return "\n".join([f"# Validation over {len(folds)} folds: {config['family']}, {config['protocol']}", "",
                      "Test speakers were not scored (`--validation-only`).", "",
                      *validation_section(summary), *_runs_section(folds, command)])


def render(folds: Sequence[Fold], scored: Sequence[Scored], pooled: Scored, pngs: dict[str, Path], out: Path,
           command: str, validation: dict[str, Any] | None = None,
           members: dict[int, list[Path]] | None = None) -> str:
    """README.md of a cross-validation."""
    from .tables import corpus_table, target_table

    config = folds[0].config
    k = len(folds)
    corpora = sorted(pooled.metrics.per_corpus)
    size = 1 + max((len(m) for m in (members or {}).values()), default=0)
    lines = [
        f"# Cross-validation: {config['family']}" + (f" (ensembles of {size} models)" if size > 1 else "")
        + f", {config['protocol']}, {k} folds",
        "",
        f"Speaker-independent: each of {len({c.speaker for c in pooled.clips})} speakers is tested exactly once, "
        "by the fold whose model never trained on it nor used it for early stopping or calibration. "
        f"Each fold's exported ONNX model is scored as the app serves it; the {pooled.metrics.n} predictions "
        "are pooled over the folds.",
        "",
        "Every figure down to *Confusion* is on the folds' **test speakers, reported only**: recipes are compared "
        "on the validation speakers (" + ("the section below" if validation else "`--validation-only`")
        + "), never on these.",
        "",
        "## Targets (pooled over folds)",
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
        *validation_section(validation),
        *_runs_section(folds, command, members),
    ]
    return "\n".join(lines)


def crossval(run_dirs: Sequence[Path], out: Path, *, root: Path | None = None, command: str = "",
             validation_only: bool = False, member_groups: Sequence[Sequence[Path]] = ()) -> dict[str, Any]:
    """Check, score and pool the folds in ``run_dirs``; write the report to ``out`` and return its JSON content.
    With ``validation_only`` only the folds' validation scores are reported (nothing is scored).
    ``member_groups``: other recipes' fold runs averaged with each fold's model (see :func:`fold_members`)."""
    from serapp.atomic import write_text

    from . import corpora, metrics
    from .jsonfile import write_json

    # an ensemble's validation scores are computed here, from its models, so they are needed even then
    folds = sorted((read_fold(Path(r), scored=not validation_only or bool(member_groups)) for r in run_dirs),
                   key=lambda f: f.number)
    check_folds(folds)
    members = fold_members(folds, member_groups)
    config = folds[0].config  # the same in every fold but the fold number
    clips = corpora.scan(root or corpora_root(), config.get("corpora"), fold_calm=config.get("fold_calm", True)) \
        if member_groups or not validation_only else []
    if member_groups:
        folds = [replace(f, validation=ensemble_validation(f, clips, members[f.number])) for f in folds]
    validation = summarise_validation(folds)
    common = {"config": {k: v for k, v in config.items() if k not in PER_FOLD},
              "runs": [str(f.run_dir) for f in folds], "validation": validation,
              "members": {str(n): [str(p.parent) for p in paths] for n, paths in members.items() if paths}}
    if validation_only:
        if validation is None:  # read_fold refused single runs without a record; an ensemble may lack speakers
            raise SerappError("The folds have no validation speakers to score.")
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "crossval.json", common)
        write_text(out / "README.md", render_validation(folds, validation, command))
        return common
    scored = [score_fold(f, clips, members[f.number]) for f in folds]
    pooled = pool(scored)
    out.mkdir(parents=True, exist_ok=True)
    pngs = {"all corpora": metrics.plot_confusion(np.asarray(pooled.metrics.confusion), pooled.metrics.labels,
                                                  out / "confusion-all.png", title="all corpora, pooled over folds")}
    for corpus, m in sorted(pooled.metrics.per_corpus.items()):
        pngs[corpus] = metrics.plot_confusion(np.asarray(m.confusion), m.labels, out / f"confusion-{corpus}.png",
                                              title=f"{corpus}, pooled over folds")
    report = {
        **common,
        "pooled": {**pooled.metrics.to_dict(), "ece": metrics.ece(pooled.probs, pooled.y)},
        "folds": [{"fold": f.number, "run": f.run_dir.name, "test_speakers": sorted(f.test_speakers),
                   **s.metrics.to_dict()} for f, s in zip(folds, scored, strict=True)],
    }
    write_json(out / "crossval.json", report)
    write_text(out / "README.md", render(folds, scored, pooled, pngs, out, command, validation, members))
    return report
