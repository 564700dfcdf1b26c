"""`serapp-train card`: judge a shipped ONNX model on its run's test speakers and write its model card.

Everything in the card is measured here on the exported file, as the app serves it (features from its own spec,
calibration included): per-corpus scores on the test speakers the run never trained or tuned on, the confusion
matrix, calibration before and after the temperature, robustness to noise and gain, and the model's latency on
one CPU thread. Training-side facts (configuration, split sizes, epochs) come from the run folder.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from serapp.errors import SerappError
from serapp.paths import corpora_root, default_model_path

if TYPE_CHECKING:
    from serapp.engine.model import OnnxModel
    from train.evaluate import Scored

# Robustness conditions the card reports: a live microphone is not a studio.
SNRS_DB: tuple[float, ...] = (20.0, 10.0, 5.0)
GAINS_DB: tuple[float, ...] = (-12.0, 12.0)

# The targets of the default-model issue: (corpus or "all", metric, threshold).
TARGETS: tuple[tuple[str, str, float], ...] = (
    ("ravdess", "uar", 0.72), ("crema-d", "uar", 0.70), ("savee", "uar", 0.70),
    ("all", "accuracy", 0.76), ("all", "macro_f1", 0.75),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="the run folder the model was trained in (split.json, config.json)")
    parser.add_argument("--model", type=Path, default=None, help="ONNX model (default: the bundled model)")
    parser.add_argument("--root", type=Path, default=None, help="corpora folder (default: $SERAPP_CORPORA)")
    parser.add_argument("--out", type=Path, default=Path("docs/model-card.md"), help="the card (Markdown)")
    parser.add_argument("--command", default="", help="the command that reproduces the model, quoted in the card")
    parser.add_argument("--crossval", type=Path, default=None,
                        help="a `serapp-train crossval` folder of the same recipe: its pooled per-corpus figures")
    parser.add_argument("--notes", type=Path, default=None,
                        help="Markdown file: what was tried and what is left (included in the card)")


@dataclass(frozen=True)
class Latency:
    """Model-only inference time for one window on one thread, in ms."""

    median_ms: float
    p95_ms: float


def measure_latency(model: OnnxModel, runs: int = 200) -> Latency:
    """Time ``model.predict`` on single zero-mean random windows (the session has one intra-op thread)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, *model.info.spec.shape)).astype(np.float32)
    for _ in range(10):
        model.predict(x)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        model.predict(x)
        times.append((time.perf_counter() - t0) * 1000.0)
    return Latency(float(np.median(times)), float(np.percentile(times, 95)))


def _pct(v: float) -> str:
    return f"{100.0 * v:.1f} %"


def corpus_table(m: dict[str, Any]) -> list[str]:
    """Markdown rows from a metrics dict (``Metrics.to_dict``): per corpus and overall, clips, accuracy,
    macro-F1 and UAR."""
    rows = ["| corpus | test clips | accuracy | macro-F1 | UAR |", "|---|---:|---:|---:|---:|"]
    for corpus, c in sorted(m["per_corpus"].items()):
        rows.append(f"| {corpus} | {c['n']} | {_pct(c['accuracy'])} | {c['macro_f1']:.3f} | {_pct(c['uar'])} |")
    rows.append(f"| **all** | {m['n']} | {_pct(m['accuracy'])} | {m['macro_f1']:.3f} | {_pct(m['uar'])} |")
    return rows


def target_table(m: dict[str, Any]) -> list[str]:
    """Markdown rows from a metrics dict: each target of the default-model issue, what is reached, and the gap."""
    rows = ["| target | threshold | reached | met |", "|---|---:|---:|---|"]
    for corpus, metric, threshold in TARGETS:
        source = m if corpus == "all" else m["per_corpus"].get(corpus)
        if source is None:
            rows.append(f"| {corpus} {metric} | {threshold:.2f} | (no test clips) | — |")
            continue
        value = float(source[metric])
        verdict = "yes" if value >= threshold else f"no ({100 * (threshold - value):.1f} points short)"
        rows.append(f"| {corpus} {metric} | {threshold:.2f} | {value:.3f} | {verdict} |")
    return rows


def robustness_rows(model: OnnxModel, clips: list[Any], clean: Scored) -> list[str]:
    """Markdown rows: accuracy and UAR under noise at each SNR (white and pink) and under gain changes."""
    from train.evaluate import Condition, score

    conditions = [Condition(noise_snr=snr, noise=colour) for snr in SNRS_DB for colour in ("white", "pink")]
    conditions += [Condition(gain_db=g) for g in GAINS_DB]
    rows = ["| condition | accuracy | macro-F1 | UAR | accuracy change |", "|---|---:|---:|---:|---:|"]
    base = clean.metrics.accuracy
    rows.append(f"| clean | {_pct(base)} | {clean.metrics.macro_f1:.3f} | {_pct(clean.metrics.uar)} | — |")
    for condition in conditions:
        s = score(model, clips, condition).metrics
        rows.append(f"| {condition.describe()} | {_pct(s.accuracy)} | {s.macro_f1:.3f} | {_pct(s.uar)} | "
                    f"{100 * (s.accuracy - base):+.1f} points |")
    return rows


def calibration_rows(model: OnnxModel, scored: Scored, run_metrics: dict[str, Any]) -> list[str]:
    """Markdown rows: expected calibration error (15 bins) before and after the temperature, validation and test."""
    from train import metrics

    t = model.info.temperature
    served = scored.probs
    raw = metrics.apply_temperature(served, 1.0 / t)  # undo the served temperature: the network's own output
    cal = run_metrics.get("calibration", {})
    rows = [f"| data | ECE before (T = 1) | ECE after (T = {t:.3f}) |", "|---|---:|---:|"]
    if cal:
        rows.append(f"| validation speakers (T fitted here) | {cal['ece_val_before']:.3f} "
                    f"| {cal['ece_val_after']:.3f} |")
    rows.append(f"| test speakers | {metrics.ece(raw, scored.y):.3f} | {metrics.ece(served, scored.y):.3f} |")
    return rows


def _relative(path: Path, out: Path) -> Path:
    """``path`` as the card (written to ``out``) links it."""
    return Path(os.path.relpath(path.resolve(), out.parent.resolve()))


def folds_differ(shipped: dict[str, Any], folds: dict[str, Any]) -> str:
    """How a cross-validation's fold recipe (``folds``, its config) differs from the shipped model's config:
    ``""`` when it is the same recipe, else e.g. ``"on `crnn_small`, not the shipped `cnn2d`; without
    distillation"`` (teachers per fold are too costly to train, and a student may change family)."""
    differs = []
    if folds.get("family") != shipped.get("family"):
        differs.append(f"on `{folds.get('family')}`, not the shipped `{shipped.get('family')}`")
    if shipped.get("teachers") and not folds.get("teachers"):
        differs.append("without distillation")
    if shipped.get("members") and not folds.get("members"):
        differs.append("one model, not an ensemble")
    return "; ".join(differs)


def crossval_section(folder: Path, report: dict[str, Any], out: Path, differs: str = "") -> list[str]:
    """Markdown lines: the pooled per-corpus figures of a `serapp-train crossval` folder (``report`` is its
    ``crossval.json``). ``differs``: how its recipe differs from the shipped model's (:func:`folds_differ`)."""
    config, pooled = report["config"], report["pooled"]
    k = len(report["folds"])
    speakers = sum(len(f["test_speakers"]) for f in report["folds"])
    tested = [[s.split(":")[0] for s in f["test_speakers"]] for f in report["folds"]]
    per_fold = ", ".join(f"{c} " + "/".join(str(t.count(c)) for t in tested) for c in sorted(pooled["per_corpus"]))
    link = _relative(folder / "README.md", out)
    recipe = f"a related recipe ({differs})" if differs else "this recipe"
    return [
        f"## Per-corpus protocols: {k}-fold cross-validation of {recipe}",
        "",
        "The issue's protocols test every speaker: RAVDESS in folds by actor, CREMA-D on actors never trained on, "
        f"SAVEE leave one speaker out. The same configuration was trained {k} times with `--protocol "
        f"{config['protocol']} --k {k}`: each corpus's speakers are split into {k} folds of their own, so fold *i* "
        f"tests the *i*-th group of every corpus (speakers tested per fold: {per_fold}). All {speakers} speakers are "
        "tested once, each by the exported ONNX "
        "model of the fold that never trained on them nor used them for early stopping or calibration; the "
        "predictions are pooled over folds. These fold models are not the shipped file (trained on another split).",
        *([f"Each fold's model is a student distilled from {len(config['teachers'])} teachers trained on that fold's "
           "training speakers only (`serapp-train crossval` refuses a teacher of another fold)."]
          if config.get("teachers") else []),
        *([f"The folds' recipe is not the shipped file's ({differs}); *What was tried* says whether "
           "the shipped recipe itself has been cross-validated."] if differs else []),
        "",
        *corpus_table(pooled),
        "",
        *target_table(pooled),
        "",
        f"Per-fold figures, spread and pooled confusion matrices: [{link}]({link}).",
        "",
    ]


def render(model: OnnxModel, run_dir: Path, clean: Scored, robustness: list[str], calibration: list[str],
           latency: Latency, confusion_png: Path, out: Path, command: str, notes: str,
           crossval: Path | None = None, *, written_by: str) -> str:
    """The card's Markdown text; ``crossval`` is a `serapp-train crossval` folder of the same recipe, ``written_by``
    the `serapp-train card` command line that wrote it."""
    info = model.info
    config = json.loads((run_dir / "config.json").read_text())
    split = json.loads((run_dir / "split.json").read_text())
    run_metrics = json.loads((run_dir / "metrics.json").read_text())
    history = json.loads((run_dir / "history.json").read_text()) if (run_dir / "history.json").exists() else {}
    val_loss = history.get("val_loss", [])
    members = [Path(m).name for m in config.get("members") or []]
    speaker_seed = config["seed"] if config.get("split_seed") is None else config["split_seed"]
    epochs = f"{len(val_loss)} epochs (best validation loss at epoch {int(np.argmin(val_loss)) + 1}, whose " \
        "weights were kept)" if val_loss else "as each member's recipe says (see *What was tried*)" if members \
        else "? epochs"
    curves = run_dir / "curves.png"
    size_mb = model.path.stat().st_size / 1e6
    test_speakers = split.get("test_speakers", [])
    teachers = config.get("teachers") or []
    report = json.loads((crossval / "crossval.json").read_text()) if crossval else None
    # Decided once, so that the heading and the limitation cannot disagree.
    differs = folds_differ(config, report["config"]) if report else ""
    measured = f"a related recipe ({differs})" if differs else "the recipe"
    spec = info.spec
    lines = [
        f"# Model card: `{model.path.name}`",
        "",
        f"- **Family**: `{info.family}` ({run_metrics.get('n_params', 0):,} parameters), file {size_mb:.2f} MB.",
        f"- **Input**: {spec.kind}, {spec.n_mels} mel bands, {spec.hop_length / spec.sample_rate * 1000:g} ms hop, "
        f"{spec.duration_s:g} s windows at {spec.sample_rate} Hz (shape {spec.shape}); the full feature spec travels "
        "in the file's metadata.",
        f"- **Output**: probabilities over {', '.join(info.labels)}; temperature T = {info.temperature:.3f} "
        "(fitted on validation speakers) applied by the engine.",
        f"- **Latency**: {latency.median_ms:.2f} ms median, {latency.p95_ms:.2f} ms p95 per 3-s window, model only, "
        "one onnxruntime thread on this project's 2-core machine.",
        f"- **Created**: {info.created or '?'}; serapp {info.version or '?'}.",
        "",
        "## Data and protocol",
        "",
        f"Trained on {', '.join(info.corpora) or '?'} (16 kHz copies of the published corpora), RAVDESS *calm* "
        "folded into *neutral*, TESS *pleasant surprise* as *surprise*. Protocol: **speaker-independent holdout** "
        f"(`{config['protocol']}`, speaker seed {speaker_seed}): {len(test_speakers)} test speakers "
        f"({split.get('test', '?')} clips) are never seen in training; early stopping and the calibration "
        f"temperature use {len(split.get('val_speakers', []))} validation speakers drawn from the training "
        f"speakers ({split.get('val', '?')} clips); {split.get('train', '?')} clips train. The test speakers were "
        f"scored once, after training; nothing was tuned on them. Training ran {epochs}.",
        *(["", f"**Ensemble**: the file runs {len(members)} models side by side on one input ({', '.join(members)}) "
            "and serves the mean of their calibrated probabilities, with a temperature for the mean fitted on the "
            "validation speakers. Every member trained on the same training speakers; the members are students "
            "distilled from teacher models trained on those speakers too (none of them trained on a validation or "
            "test speaker); see *What was tried*."] if members else []),
        *(["", f"**Distilled**: each training clip's target was {1 - config['distill_weight']:g} its one-hot label "
            f"and {config['distill_weight']:g} the mean calibrated probability of {len(teachers)} teacher "
            f"model{'s' if len(teachers) > 1 else ''} trained on the same training speakers (none of them trained "
            "on a validation or test speaker); see *What was tried*."] if teachers and not members else []),
        "",
        *([f"![Training curves]({_relative(curves, out)})", ""] if curves.exists() else []),
        "**The shipped weights are the evaluated ones** (trained on the training speakers only), not a retrain on",
        "all speakers, so the figures below describe exactly this file.",
        "",
        f"Test speakers: {', '.join(test_speakers)}.",
        "",
        "## Results on the test speakers (scored on the ONNX file)",
        "",
        *corpus_table(clean.metrics.to_dict()),
        "",
        f"![Confusion matrix]({_relative(confusion_png, out)})",
        "",
        "Per-corpus scores count only the classes that corpus has (CREMA-D has no *surprise*). TESS has two "
        "speakers: its test speaker is the one the model never heard, so its figure is a single-speaker estimate.",
        "",
        "### Against the targets",
        "",
        *target_table(clean.metrics.to_dict()),
        "",
        "The targets are those of the default-model issue (speaker-independent). Where the model falls short, the "
        "section *What was tried* says what was done and what is left.",
        "",
        *(crossval_section(crossval, report, out, differs) if crossval and report else []),
        "## Calibration",
        "",
        *calibration,
        "",
        "## Robustness (same test speakers, degraded before the features)",
        "",
        *robustness,
        "",
        "Noise is added to the 3-s window at the stated SNR (pink noise is closer to a room of voices than white).",
        "Gain is applied with clipping at full scale; the log-mel is relative to each window's peak, so pure gain",
        "changes matter only through clipping and the noise floor.",
        "",
        *(["## What was tried", "", notes.strip(), ""] if notes else []),
        "## Limitations",
        "",
        "- Acted, English, read speech from four corpora: spontaneous speech, other languages and other recording",
        "  chains will score lower. Emotions are acted categories, not felt states; do not use the output to judge",
        "  people.",
        *(["- The shipped file's own figures come from one holdout (SAVEE and TESS test on one speaker each); the",
           f"  cross-validation above measures {measured} over every speaker, not this exact file."] if crossval else
          ["- One speaker-independent holdout, not k-fold: the per-corpus figures carry a few points of sampling",
           "  uncertainty (SAVEE and TESS test on one speaker each)."]),
        "- Licence: trained on RAVDESS (CC BY-NC-SA 4.0), TESS (CC BY-NC-ND 4.0), CREMA-D (ODbL/DbCL) and SAVEE",
        "  (research use); the model inherits their **non-commercial** terms.",
        "",
        "## Reproduce",
        "",
        "```bash",
        command or f"serapp-train train --config configs/default-model.json --export  # run {run_dir.name}",
        "```",
        "",
        f"This card was written by `{written_by}`.",
        "",
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from serapp.atomic import write_text
    from serapp.engine.model import load_model
    from train import corpora, metrics
    from train.evaluate import score

    run_dir: Path = args.run_dir
    if not (run_dir / "split.json").exists():
        raise SerappError(f"{run_dir}: not a run folder (no split.json).")
    model = load_model(args.model or default_model_path())
    split = json.loads((run_dir / "split.json").read_text())
    speakers = set(split.get("test_speakers", []))
    if not speakers:
        raise SerappError(f"{run_dir}: the run has no test speakers (trained on all speakers?); a card needs them.")
    clips = [c for c in corpora.scan(args.root or corpora_root()) if c.speaker in speakers]
    clean = score(model, clips)
    out: Path = args.out
    png = metrics.plot_confusion(np.asarray(clean.metrics.confusion), model.labels,
                                 out.parent / f"{out.stem}-confusion.png",
                                 title=f"{model.path.stem} — test speakers")
    run_metrics = json.loads((run_dir / "metrics.json").read_text())
    text = render(model, run_dir, clean, robustness_rows(model, clips, clean),
                  calibration_rows(model, clean, run_metrics), measure_latency(model), png, out, args.command,
                  args.notes.read_text() if args.notes else "", args.crossval,
                  written_by=args.command_line)
    write_text(out, text)
    print(metrics.format_report(clean.metrics))
    print(f"wrote {out} and {png}")
    return 0
