"""`serapp-train card`: judge a shipped ONNX model on its run's test speakers and write its model card.

Everything in the card is measured here on the exported file, as the app serves it (features from its own spec,
calibration included): per-corpus scores on the test speakers the run never trained or tuned on, the confusion
matrix, calibration before and after the temperature, robustness to noise and gain, and the model's latency on
one CPU thread. Training-side facts (configuration, split sizes, epochs) come from the run folder.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from serapp.errors import SerappError
from serapp.paths import corpora_root, default_model_path

from .jsonfile import read_json
from .runfolder import SPLIT, RunFolder
from .tables import corpus_table, pct, target_table

if TYPE_CHECKING:
    from serapp.engine.model import OnnxModel

    from .scoring import Scored

# Robustness conditions the card reports: a live microphone is not a studio.
SNRS_DB: tuple[float, ...] = (20.0, 10.0, 5.0)
GAINS_DB: tuple[float, ...] = (-12.0, 12.0)
RT60S_S: tuple[float, ...] = (0.3, 0.8)  # reverberation times: a furnished room, a hall

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


def robustness_rows(model: OnnxModel, clips: list[Any], clean: Scored) -> list[str]:
    """Markdown rows: accuracy and UAR under noise at each SNR (white and pink), under gain changes, in rooms
    (:data:`RT60S_S`) and through a laptop microphone's band and a telephone line."""
    from .augment import DEVICES
    from .scoring import Condition, score

    conditions = [Condition(noise_snr=snr, noise=colour) for snr in SNRS_DB for colour in ("white", "pink")]
    conditions += [Condition(gain_db=g) for g in GAINS_DB]
    conditions += [Condition(rt60_s=rt60) for rt60 in RT60S_S] + [Condition(device=d) for d in DEVICES]
    rows = ["| condition | accuracy | macro-F1 | UAR | accuracy change |", "|---|---:|---:|---:|---:|"]
    base = clean.metrics.accuracy
    rows.append(f"| clean | {pct(base)} | {clean.metrics.macro_f1:.3f} | {pct(clean.metrics.uar)} | — |")
    for condition in conditions:
        s = score(model, clips, condition).metrics
        rows.append(f"| {condition.describe()} | {pct(s.accuracy)} | {s.macro_f1:.3f} | {pct(s.uar)} | "
                    f"{100 * (s.accuracy - base):+.1f} points |")
    return rows


def calibration_rows(model: OnnxModel, scored: Scored, run_metrics: dict[str, Any]) -> list[str]:
    """Markdown rows: expected calibration error (15 bins) before and after the temperature, validation and test."""
    from . import metrics

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


def _parameters(family: str, trained: int, path: Path) -> str:
    """The parameter count as the card states it: an encoder family's trained head is a small part of the file."""
    from .models import FAMILIES

    if family not in FAMILIES or not FAMILIES[family].encoder:
        return f"{trained:,} parameters"
    import onnx

    weights = sum(int(np.prod(t.dims)) for t in onnx.load(str(path), load_external_data=False).graph.initializer)
    return f"{trained:,} trained parameters on a frozen pretrained encoder; {weights:,} weights in the file"


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


def teachers_section(model_path: Path, run_dir: Path, config: dict[str, Any], split: dict[str, Any]) -> list[str]:
    """Markdown lines: each claim about a distilled model's teachers (its teacher record, from the model's metadata
    or ``run_dir/teachers.json``) and whether it was checked here (:func:`serapp_train.provenance.verify`); empty for a
    model without teachers."""
    from . import provenance

    if not config.get("teachers"):
        return []
    lines = ["## Teachers: what a clone can check", ""]
    record, found_in = provenance.find(model_path, run_dir)
    if record is None:
        return [*lines, "This model has no teacher record (neither in its metadata nor a `teachers.json` beside its "
                "run files): the claim that none of its teachers heard a validation or test speaker cannot be "
                "checked.", ""]
    checks = provenance.verify(record, found_in=found_in, model_path=model_path, student_config=config,
                               student_split=split)
    rows = ["| run | claim | checked here | how |", "|---|---|---|---|"]
    rows += [f"| `{c.subject}` | {c.claim} | **{c.status}** | "
             f"{'see below' if c.status == provenance.UNRECORDED else c.how} |" for c in checks]

    def claims(status: str) -> str:
        return "; ".join(dict.fromkeys(c.claim for c in checks if c.status == status))

    counts = {status: sum(c.status == status for c in checks) for status in
              (provenance.VERIFIED, provenance.FAILED, provenance.ABSENT, provenance.UNRECORDED)}
    summary = [f"`serapp-train card` checked these claims when it wrote this card: {counts[provenance.VERIFIED]} of "
               f"{len(checks)} verified, {counts[provenance.FAILED]} failed.", ""]
    if counts[provenance.VERIFIED]:
        summary.append(f"- **Verifiable from a clone** (and verified): {claims(provenance.VERIFIED)}.")
    if counts[provenance.FAILED]:
        summary.append(f"- **Failed**: {claims(provenance.FAILED)}.")
    if counts[provenance.ABSENT]:
        summary.append(f"- **Recorded, but checkable only where the teacher runs are kept** (`runs/` is not in git): "
                       f"{claims(provenance.ABSENT)}.")
    if counts[provenance.UNRECORDED]:
        reasons = "; ".join(dict.fromkeys(c.how for c in checks if c.status == provenance.UNRECORDED))
        summary.append("- **Not verifiable from a clone, nor anywhere** (never recorded): "
                       f"{claims(provenance.UNRECORDED)} — because {reasons}. For these the claim that no "
                       "teacher heard a validation or test speaker rests on the trainer's check at training time, "
                       "whose result was not kept.")
    where = found_in if found_in.startswith("the ") else f"`{found_in}`"
    return [*lines, f"The teacher record is in {where}.", "", *rows, "", *summary,
            *(["", f"The record's note: {record['note']}"] if record.get("note") else []), ""]


def selection_section(selection: dict[str, Any], split: dict[str, Any], root: Path, run_dir: Path,
                      out: Path) -> list[str]:
    """Markdown lines from ``run_dir/selection.json``: on what the model's family was chosen (with the overlap,
    recomputed from the corpora under ``root``, between that comparison's test speakers and this model's), and how
    many candidates' test figures were seen before the decisions that shipped and kept it. Links are relative to
    the card ``out``; each candidate's ``record`` is relative to ``run_dir``."""
    from . import corpora
    from .config import TrainConfig
    from .data import choose_split, limit_per_corpus

    lines = ["## Selection: what was chosen on what, and how many test figures were seen", ""]
    family = selection.get("family_choice")
    if family:
        report = read_json(Path(family["compare"]), "comparison report")
        chosen, over = report["families"][family["chosen"]], report["families"][family["over"]]
        config = TrainConfig.from_dict(report["config"])
        clips = limit_per_corpus(corpora.scan(root, config.corpora, fold_calm=config.fold_calm), config.limit,
                                 config.speaker_seed)
        ours = set(split.get("test_speakers", []))
        theirs: set[str] = set()
        for fold in report["folds"]:
            fold_split = choose_split(clips, config.replace(fold=fold))
            theirs |= {clips[i].speaker for i in fold_split.test}
        shared = sorted(ours & theirs)
        n_clips = sum(1 for c in clips if c.speaker in shared)
        judged = "test speakers" if family["judged_on"] == "test" else "validation speakers"
        table = _relative(Path(family["compare"]).parent / "README.md", out)
        lines += [f"**Family.** `{family['chosen']}` was chosen over `{family['over']}` on the **{judged}** of "
                  f"the family comparison ([{family['compare']}]({table}): {config.protocol}, "
                  f"fold{'s' if len(report['folds']) > 1 else ''} {', '.join(map(str, report['folds']))}; UAR "
                  f"{chosen['uar']:.3f} against {over['uar']:.3f}), not on validation speakers: {family['why']}. "
                  f"{len(shared)} of this file's {len(ours)} test speakers ({n_clips} clips: "
                  f"{', '.join(shared) or 'none'}) were test speakers there too (recomputed from the corpora), so "
                  "the choice of family has seen part of this file's test set.", ""]
    def _names(items: list[dict[str, Any]]) -> str:
        return ", ".join(f"[{item['name']}]({_relative(run_dir / item['record'], out)})" if item.get("record")
                         else item["name"] for item in items)

    seen = selection.get("test_figures_seen")
    if seen:
        before, since = seen.get("until_shipped", []), seen.get("since_kept", [])
        ensembles = seen.get("ensembles_of_students", [])
        lines += [f"**Test figures seen.** The test-speaker figures of **{len(before) + len(since)} candidate "
                  f"models** on this file's test speakers were seen ({seen['scope']}): {len(before)} up to the "
                  f"decision that shipped this file ({_names(before)})"
                  + (f", {len(since)} since, at decisions that kept it ({_names(since)})" if since else
                     ", none since") + (f"; and those of {len(ensembles)} ensembles of them ({_names(ensembles)})"
                  if ensembles else "") + ". "
                  "Each decision was taken by a rule on the validation speakers written before its runs were "
                  f"scored, but this file is the one kept of {len(before) + len(since)} models whose test figures "
                  "were known: read its test figures as somewhat optimistic.", ""]
    return lines


# Issue 28's targets for the shipped model through the product path (test speakers).
PRODUCT_TARGETS = {"file_gap": 0.01, "speech_right": 0.60, "switches": 1.0, "late_pause_speech": 0.10}
def product_path_section(record: dict[str, Any], run_dir: Path, config: dict[str, Any]) -> list[str]:
    """The card's *Through the product path* section from an ``evaluate --product`` ``metrics.json`` written to
    ``run_dir``/product-path for the run whose ``config.json`` is ``config``."""
    command = (f"serapp-train evaluate --split {run_dir.as_posix()}/split.json --part test --product "
               f"--out {run_dir.as_posix()}/product-path")
    trained_on = ("also trained on utterance beginnings (`p_partial` in its augmentation), yet early in an "
                  "utterance it is still often wrong" if (config.get("augment") or {}).get("p_partial") else
                  "trained on whole clips: early in an utterance it is often wrong")
    pp = record["product_path"]
    replay = pp["replay"]
    gap = pp["file_analysis_ua"] - pp["fixed_crop_ua"]
    t = PRODUCT_TARGETS

    def row(name: str, value: str, target: str, met: bool) -> str:
        return f"| {name} | {value} | {target} | {'met' if met else '**missed**'} |"

    settings = pp["replay_settings"]
    return [
        "## Through the product path (test speakers)",
        "",
        f"The same {pp['clips']} test clips as above, through what users run. **File analysis**: each clip through "
        "`serapp analyze`'s engine (speech detector, utterances scored as in training); the prediction is the top "
        "label of `summary.probabilities`. **Live replay**: "
        f"{replay['utterances']} clips joined into {replay['conversations']} conversations with "
        f"{settings['pause_s'][0]:g}-{settings['pause_s'][1]:g} s pauses ({replay['seconds'] / 60:.0f} min), run "
        f"through the real-time engine at default settings in {settings['block_s'] * 1000:g} ms blocks and scored "
        "at every update: an update inside a clip's speech is right when its top emotion is the clip's.",
        "",
        "| measure | value | target | |",
        "|---|---:|---:|---|",
        row("UA, fixed crops (as in training)", pct(pp["fixed_crop_ua"]), "", True).replace("| met |", "| |"),
        row("UA, file analysis (`serapp analyze`)", f"{pct(pp['file_analysis_ua'])} ({gap * 100:+.1f} points)",
            f"within {t['file_gap'] * 100:g} point of fixed crops", gap >= -t["file_gap"]),
        row("live: speech updates right", pct(replay["speech_right"]), f"≥ {pct(t['speech_right'])}",
            replay["speech_right"] >= t["speech_right"]),
        row("live: speech updates showing an emotion", pct(replay["shown"]), "", True).replace("| met |", "| |"),
        row("live: top-emotion switches per utterance", f"{replay['switches_per_utterance']:.2f}",
            f"≤ {t['switches']:g}", replay["switches_per_utterance"] <= t["switches"]),
        row(f"live: updates ≥ {settings['late_pause_s']:g} s into a pause called speech",
            pct(replay["late_pause_speech"]), f"≤ {pct(t['late_pause_speech'])}",
            replay["late_pause_speech"] <= t["late_pause_speech"]),
        row("live: updates per second", f"{replay['updates_per_s']:.2f}", "≥ 4", replay["updates_per_s"] >= 4),
        "",
        f"A live display can only score the part of an utterance heard so far, and this model was {trained_on}, "
        "which bounds the share of speech updates right. "
        f"`{pp['file_analysis_no_speech']}` clips had no speech found. Written by `{command}`.",
        "",
    ]


def render(model: OnnxModel, run_dir: Path, clean: Scored, robustness: list[str], calibration: list[str],
           latency: Latency, confusion_png: Path, out: Path, command: str, notes: str,
           crossval: Path | None = None, *, written_by: str, provenance: list[str] | None = None) -> str:
    """The card's Markdown text; ``crossval`` is a `serapp-train crossval` folder of the same recipe, ``written_by``
    the `serapp-train card` command line that wrote it."""
    info = model.info
    folder = RunFolder(run_dir)
    config, split, run_metrics = folder.config_record(), folder.split(), folder.metrics()
    val_loss = (folder.history() or {}).get("val_loss", [])
    members = [Path(m).name for m in folder.members()]
    speaker_seed = config["seed"] if config.get("split_seed") is None else config["split_seed"]
    epochs = f"{len(val_loss)} epochs (best validation loss at epoch {int(np.argmin(val_loss)) + 1}, whose " \
        "weights were kept)" if val_loss else "as each member's recipe says (see *What was tried*)" if members \
        else "? epochs"
    curves = run_dir / "curves.png"
    size_mb = model.path.stat().st_size / 1e6
    test_speakers = split.get("test_speakers", [])
    teachers = config.get("teachers") or []
    report = read_json(crossval / "crossval.json", "cross-validation report") if crossval else None
    # Decided once, so that the heading and the limitation cannot disagree.
    differs = folds_differ(config, report["config"]) if report else ""
    measured = f"a related recipe ({differs})" if differs else "the recipe"
    spec = info.spec
    lines = [
        f"# Model card: `{model.path.name}`",
        "",
        f"- **Family**: `{info.family}` ({_parameters(info.family, run_metrics.get('n_params', 0), model.path)}), "
        f"file {size_mb:.2f} MB.",
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
            f"model{'s' if len(teachers) > 1 else ''} trained on the same training speakers; *Teachers* below says "
            "which claims about them a clone can check, and *What was tried* how they were chosen."]
          if teachers and not members else []),
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
        *(provenance or []),
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

    from . import corpora, metrics
    from .scoring import score

    run_dir: Path = args.run_dir
    folder = RunFolder(run_dir)
    if not folder.has(SPLIT):
        raise SerappError(f"{run_dir}: not a run folder (no split.json).")
    model = load_model(args.model or default_model_path())
    split = folder.split()
    speakers = set(split.get("test_speakers", []))
    if not speakers:
        raise SerappError(f"{run_dir}: the run has no test speakers (trained on all speakers?); a card needs them.")
    out: Path = args.out
    root = args.root or corpora_root()
    # Provenance and selection first: they are quick, and a failed check should show before the long scoring.
    config = folder.config_record()
    provenance = teachers_section(model.path, run_dir, config, split)
    selection = folder.selection()
    if selection is not None:
        provenance += selection_section(selection, split, root, run_dir, out)
    product = folder.product_path()
    if product is not None:
        provenance = product_path_section(product, run_dir, config) + provenance
    if any("| **failed** |" in line for line in provenance):
        print("warning: a claim about the model's teachers failed its check; see the card's *Teachers* section")
    clips = [c for c in corpora.scan(root) if c.speaker in speakers]
    clean = score(model, clips)
    png = metrics.plot_confusion(np.asarray(clean.metrics.confusion), model.labels,
                                 out.parent / f"{out.stem}-confusion.png",
                                 title=f"{model.path.stem} — test speakers")
    run_metrics = folder.metrics()
    text = render(model, run_dir, clean, robustness_rows(model, clips, clean),
                  calibration_rows(model, clean, run_metrics), measure_latency(model), png, out, args.command,
                  args.notes.read_text() if args.notes else "", args.crossval,
                  written_by=args.command_line, provenance=provenance)
    write_text(out, text)
    print(metrics.format_report(clean.metrics))
    print(f"wrote {out} and {png}")
    return 0
