"""The model card's data: every figure and fact a card states, measured or read from records, no prose.

:func:`collect` judges a shipped ONNX model on its run's test speakers (features from its own spec, calibration
included): per-corpus scores, calibration before and after the temperature, robustness to noise, gain, rooms and
devices, and the model's latency on one CPU thread. Training-side facts (configuration, split sizes, epochs) come
from the run folder, corpus facts (display names, licences) from the corpora folder's README and the clips
themselves, machine facts from the machine the latency was measured on. :mod:`serapp_train.cardrender` turns a
:class:`CardData` into Markdown.
"""

from __future__ import annotations

import os
import platform
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from serapp.bundle import DEFAULT_MODEL_NAME
from serapp.errors import SerappError

from .jsonfile import read_json
from .runfolder import SPLIT, RunFolder, from_checkout

if TYPE_CHECKING:
    from serapp.engine.model import OnnxModel

    from .corpora import Clip
    from .scoring import Scored

# Robustness conditions the card reports: a live microphone is not a studio.
SNRS_DB: tuple[float, ...] = (20.0, 10.0, 5.0)
GAINS_DB: tuple[float, ...] = (-12.0, 12.0)
RT60S_S: tuple[float, ...] = (0.3, 0.8)  # reverberation times: a furnished room, a hall

# Targets for the shipped model's file analysis through a device chain (test speakers, UA); the card analyses each
# whole clip through every device chain, beside its fixed crops.
DEVICE_TARGETS: dict[str, float] = {"laptop": 0.62, "telephone": 0.55}
# Targets for the shipped model through the product path (test speakers).
PRODUCT_TARGETS: dict[str, float] = {"file_gap": 0.01, "speech_right": 0.60, "switches": 1.0,
                                     "late_pause_speech": 0.10, "updates_per_s": 4.0}


@dataclass(frozen=True)
class ModelFacts:
    """What the ONNX file says about itself, and its size. ``file_weights``: all weights in the file, counted only
    for a family on a frozen pretrained encoder (else ``None``); ``parameters``: the trained ones."""

    file_name: str
    family: str
    parameters: int
    file_weights: int | None
    size_mb: float
    spec_kind: str
    n_mels: int
    hop_ms: float
    duration_s: float
    sample_rate: int
    shape: tuple[int, ...]
    labels: tuple[str, ...]
    temperature: float
    created: str
    version: str


@dataclass(frozen=True)
class Latency:
    """Model-only inference time for one window on ``threads`` onnxruntime thread(s), in ms, and the machine's
    CPU cores available to the process and architecture when it was measured."""

    median_ms: float
    p95_ms: float
    threads: int = 1
    cores: int = 0
    machine: str = ""


@dataclass(frozen=True)
class CorpusFacts:
    """One corpus the model trained on: its name in the corpora README, licence, labels read as another class
    (``(raw, canonical)``), canonical classes it lacks, and how many of the run's test speakers are from it."""

    name: str
    display: str
    licence: str
    relabelled: tuple[tuple[str, str], ...]
    missing: tuple[str, ...]
    test_speakers: int


@dataclass(frozen=True)
class Protocol:
    """The run's split and training length, from its run folder."""

    protocol: str
    speaker_seed: int
    test_speakers: tuple[str, ...]
    test_clips: int | None
    val_speakers: int
    val_clips: int | None
    train_clips: int | None
    epochs: int | None
    best_epoch: int | None
    members: tuple[str, ...]
    teachers: int
    distill_weight: float


@dataclass(frozen=True)
class Calibration:
    """Expected calibration error (15 bins) before (T = 1) and after the served temperature."""

    temperature: float
    test_before: float
    test_after: float
    val_before: float | None = None
    val_after: float | None = None


@dataclass(frozen=True)
class ConditionScore:
    """Accuracy, macro-F1 and UAR of the fixed crops under one degradation (``clean`` for none); where measured,
    the UA of file analysis of each whole clip degraded alike, and its target (:data:`DEVICE_TARGETS`)."""

    condition: str
    accuracy: float
    macro_f1: float
    uar: float
    file_ua: float | None = None
    file_target: float | None = None


@dataclass(frozen=True)
class Crossval:
    """The pooled figures of a `serapp-train crossval` folder: ``per_fold`` gives, per corpus, the number of its
    speakers each fold tested; ``differs`` how its recipe differs from the shipped one (:func:`folds_differ`)."""

    link: str
    k: int
    protocol: str
    speakers: int
    per_fold: dict[str, list[int]]
    pooled: dict[str, Any]
    teachers: int
    differs: str


@dataclass(frozen=True)
class ProductCheck:
    """One measure through the product path: its value, its target (``None``: none) and whether it is met."""

    measure: str
    value: float
    target: float | None = None
    met: bool | None = None


@dataclass(frozen=True)
class ProductPath:
    """An ``evaluate --product`` record of the run (``record`` is its ``product_path``), its checks against
    :data:`PRODUCT_TARGETS`, the command that wrote it, and whether the model trained on utterance beginnings."""

    record: dict[str, Any]
    checks: tuple[ProductCheck, ...]
    command: str
    partial_training: bool
    figure_link: str | None = None  # the live shares by time since speech began, where the record has the figure


@dataclass(frozen=True)
class Adaptation:
    """An ``evaluate --adapt`` record of the test speakers (``record`` is its ``adaptation``), the link to its
    table (relative to the card) and the command that wrote it."""

    record: dict[str, Any]
    table_link: str
    command: str


def adaptation(record: dict[str, Any], run_dir: Path, out: Path) -> Adaptation:
    """The card's view of ``run_dir``'s ``adaptation/test/metrics.json`` (``record``)."""
    scored = Path(record.get("model") or DEFAULT_MODEL_NAME)
    named = "" if scored.name == DEFAULT_MODEL_NAME else f"--model {from_checkout(scored)} "
    return Adaptation(record["adaptation"], relative(run_dir / "adaptation" / "test" / "adaptation.md", out),
                      f"serapp-train evaluate {named}--split {run_dir.as_posix()}/split.json --part test --adapt "
                      f"--out {run_dir.as_posix()}/adaptation/test")


@dataclass(frozen=True)
class TeacherCheck:
    """One claim about a teacher and whether it was checked here (:class:`serapp_train.provenance.Check`)."""

    subject: str
    claim: str
    status: str
    how: str


@dataclass(frozen=True)
class Teachers:
    """A distilled model's teacher record (``found_in``: where; ``None`` when the model has none) and its checks."""

    found_in: str | None
    checks: tuple[TeacherCheck, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class FamilyChoice:
    """On what the model's family was chosen: the comparison, the UARs, and the overlap between that comparison's
    test speakers and this model's (recomputed from the corpora)."""

    chosen: str
    over: str
    judged_on: str
    compare: str
    link: str
    protocol: str
    folds: tuple[int, ...]
    chosen_uar: float
    over_uar: float
    why: str
    shared_speakers: tuple[str, ...]
    shared_clips: int
    test_speakers: int


@dataclass(frozen=True)
class Candidate:
    """A candidate model whose test figures were seen; ``link`` to its record relative to the card, if any."""

    name: str
    link: str | None = None


@dataclass(frozen=True)
class Selection:
    """From ``selection.json``: the family choice and the candidates whose test figures were seen."""

    family: FamilyChoice | None = None
    scope: str = ""
    until_shipped: tuple[Candidate, ...] = ()
    since_kept: tuple[Candidate, ...] = ()
    ensembles: tuple[Candidate, ...] = ()
    seen: bool = False
    own_seen: bool = True  # whether this file's own test figures were read before it shipped (older records: yes)


@dataclass(frozen=True)
class CardData:
    """Everything a model card states. ``results`` is the test speakers' ``Metrics.to_dict``; links are relative
    to the card; ``written_by`` the command line that wrote the card, ``command`` the one that reproduces it."""

    model: ModelFacts
    latency: Latency
    corpora: tuple[CorpusFacts, ...]
    protocol: Protocol
    results: dict[str, Any]
    calibration: Calibration
    robustness: tuple[ConditionScore, ...]
    confusion_link: str
    curves_link: str | None = None
    crossval: Crossval | None = None
    product_path: ProductPath | None = None
    adaptation: Adaptation | None = None
    teachers: Teachers | None = None
    selection: Selection | None = None
    notes: str = ""
    command: str = ""
    run_name: str = ""
    written_by: str = ""


# ---------------------------------------------------------------------------------------------- measurements
def measure_latency(model: OnnxModel, runs: int = 200) -> Latency:
    """Time ``model``'s file's ``predict`` on single zero-mean random windows, on a session with one intra-op
    thread (as live analysis serves it; ``model`` itself may have more, for scoring)."""
    from serapp.engine.model import OnnxModel, usable_cores

    if model.threads != 1:
        model = OnnxModel(model.path, threads=1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, *model.info.spec.shape)).astype(np.float32)
    for _ in range(10):
        model.predict(x)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        model.predict(x)
        times.append((time.perf_counter() - t0) * 1000.0)
    return Latency(float(np.median(times)), float(np.percentile(times, 95)), threads=1,
                   cores=usable_cores(),
                   machine=platform.machine())


def robustness(model: OnnxModel, clips: list[Clip], clean: Scored) -> tuple[ConditionScore, ...]:
    """Scores under noise at each SNR (white and pink), under gain changes, in rooms (:data:`RT60S_S`) and through
    each device chain (a laptop microphone's band, a telephone line, two codecs); the first is ``clean``. Through
    each device chain, also the UA of file analysis of each whole clip (what a user's recording through it gets)."""
    from .augment import DEVICES
    from .productpath import score_file_analysis
    from .scoring import Condition, score

    conditions = [Condition(noise_snr=snr, noise=colour) for snr in SNRS_DB for colour in ("white", "pink")]
    conditions += [Condition(gain_db=g) for g in GAINS_DB]
    conditions += [Condition(rt60_s=rt60) for rt60 in RT60S_S] + [Condition(device=d) for d in DEVICES]
    m = clean.metrics
    rows = [ConditionScore("clean", m.accuracy, m.macro_f1, m.uar)]
    for condition in conditions:
        scored = score(model, clips, condition)
        s = scored.metrics
        file_ua = None
        if condition.device is not None:
            file_ua = score_file_analysis(model, scored.clips, condition=condition).ua
        rows.append(ConditionScore(condition.describe(), s.accuracy, s.macro_f1, s.uar, file_ua,
                                   DEVICE_TARGETS.get(condition.device or "")))
    return tuple(rows)


def calibration(model: OnnxModel, scored: Scored, run_metrics: dict[str, Any]) -> Calibration:
    """Expected calibration error before and after the temperature on the test speakers, and on the validation
    speakers as the run recorded it."""
    from . import metrics

    t = model.info.temperature
    served = scored.probs
    raw = metrics.apply_temperature(served, 1.0 / t)  # undo the served temperature: the network's own output
    cal = run_metrics.get("calibration", {})
    return Calibration(t, float(metrics.ece(raw, scored.y)), float(metrics.ece(served, scored.y)),
                       cal.get("ece_val_before"), cal.get("ece_val_after"))


def file_weights(family: str, path: Path) -> int | None:
    """All weights in the file for a family on a frozen pretrained encoder (its trained head is a small part of
    the file); ``None`` for other families."""
    from .models import FAMILIES

    if family not in FAMILIES or not FAMILIES[family].encoder:
        return None
    import onnx

    return sum(int(np.prod(t.dims)) for t in onnx.load(str(path), load_external_data=False).graph.initializer)


def model_facts(model: OnnxModel, parameters: int) -> ModelFacts:
    """The file's own facts (metadata and size); ``parameters`` the trained ones, from the run's metrics."""
    info, spec = model.info, model.info.spec
    return ModelFacts(
        file_name=model.path.name, family=info.family, parameters=parameters,
        file_weights=file_weights(info.family, model.path), size_mb=model.path.stat().st_size / 1e6,
        spec_kind=spec.kind, n_mels=spec.n_mels, hop_ms=spec.hop_length / spec.sample_rate * 1000,
        duration_s=spec.duration_s, sample_rate=spec.sample_rate, shape=tuple(spec.shape), labels=tuple(info.labels),
        temperature=info.temperature, created=info.created or "?", version=info.version or "?")


# ---------------------------------------------------------------------------------------------- corpora
def readme_corpora(root: Path) -> dict[str, tuple[str, str]]:
    """Corpus folder name -> (display name, licence) from the table in the corpora folder's ``README.md`` (columns
    ``folder`` … ``corpus`` … ``licence``); empty when there is no README or no such table."""
    path = Path(root) / "README.md"
    if not path.is_file():
        return {}
    header: list[str] | None = None
    found: dict[str, tuple[str, str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            header = None if found or header is None else header
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = [c.lower() for c in cells]
            continue
        if set("".join(cells)) <= set("-: ") or not {"folder", "corpus", "licence"} <= set(header):
            continue
        row = dict(zip(header, cells, strict=False))
        folder = row["folder"].strip("`").split("/")[0]
        found[folder] = (row["corpus"].split(",")[0].strip(), row["licence"])
    return found


def _renamed(raw: str, label: str) -> bool:
    """Whether a corpus's raw label is another class than the canonical one, not just its spelling or code
    (``calm`` -> neutral and ``ps`` -> surprise are; ``ANG`` -> angry and ``fearful`` -> fear are not)."""
    raw = re.sub(r"[^a-z]", "", raw.lower())
    return not (label.startswith(raw) or raw.startswith(label))


def corpus_facts(names: list[str], clips: list[Clip], test_speakers: list[str], root: Path,
                 labels: tuple[str, ...]) -> tuple[CorpusFacts, ...]:
    """Facts about each corpus in ``names``, from its ``clips`` and the corpora README under ``root``."""
    readme = readme_corpora(root)
    facts = []
    for name in names:
        own = [c for c in clips if c.corpus == name]
        relabelled = sorted({(c.raw_label, c.label) for c in own if _renamed(c.raw_label, c.label)})
        present = {c.label for c in own}
        display, licence = readme.get(name, (name, ""))
        facts.append(CorpusFacts(
            name=name, display=display, licence=licence, relabelled=tuple(relabelled),
            missing=tuple(label for label in labels if own and label not in present),
            test_speakers=sum(s.split(":")[0] == name for s in test_speakers)))
    return tuple(facts)


# ---------------------------------------------------------------------------------------------- records
def relative(path: Path, out: Path) -> str:
    """``path`` as the card (written to ``out``) links it."""
    return Path(os.path.relpath(path.resolve(), out.parent.resolve())).as_posix()


def protocol(folder: RunFolder) -> Protocol:
    """The run's split, training length and recipe kind, from its run folder."""
    config, split = folder.config_record(), folder.split()
    val_loss = (folder.history() or {}).get("val_loss", [])
    return Protocol(
        protocol=config["protocol"], speaker_seed=config["seed"] if config.get("split_seed") is None
        else config["split_seed"], test_speakers=tuple(split.get("test_speakers", [])),
        test_clips=split.get("test"), val_speakers=len(split.get("val_speakers", [])), val_clips=split.get("val"),
        train_clips=split.get("train"), epochs=len(val_loss) or None,
        best_epoch=int(np.argmin(val_loss)) + 1 if val_loss else None,
        members=tuple(Path(m).name for m in folder.members()), teachers=len(config.get("teachers") or []),
        distill_weight=float(config.get("distill_weight") or 0.0))


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


def crossval(folder: Path, shipped: dict[str, Any], out: Path) -> Crossval:
    """The pooled figures of a `serapp-train crossval` ``folder`` (its ``crossval.json``) for the card ``out``
    of a model whose config is ``shipped``."""
    report = read_json(folder / "crossval.json", "cross-validation report")
    config, pooled = report["config"], report["pooled"]
    tested = [[s.split(":")[0] for s in f["test_speakers"]] for f in report["folds"]]
    return Crossval(
        link=relative(folder / "README.md", out), k=len(report["folds"]), protocol=config["protocol"],
        speakers=sum(len(t) for t in tested),
        per_fold={c: [t.count(c) for t in tested] for c in sorted(pooled["per_corpus"])}, pooled=pooled,
        teachers=len(config.get("teachers") or []), differs=folds_differ(shipped, config))


def product_path(record: dict[str, Any], run_dir: Path, config: dict[str, Any], out: Path | None = None
                 ) -> ProductPath:
    """The checks of an ``evaluate --product`` ``metrics.json`` written to ``run_dir``/product-path for the run
    whose ``config.json`` is ``config``, against :data:`PRODUCT_TARGETS`; with ``out`` (the card's path), the
    link to the figure written beside the record, if it is there."""
    from .productpath import LIVE_FIGURE

    pp = record["product_path"]
    replay, t = pp["replay"], PRODUCT_TARGETS
    gap = pp["file_analysis_ua"] - pp["fixed_crop_ua"]
    checks = (
        ProductCheck("fixed_crop_ua", pp["fixed_crop_ua"]),
        ProductCheck("file_analysis_ua", pp["file_analysis_ua"], t["file_gap"], gap >= -t["file_gap"]),
        ProductCheck("speech_right", replay["speech_right"], t["speech_right"],
                     replay["speech_right"] >= t["speech_right"]),
        ProductCheck("shown", replay["shown"]),
        *([ProductCheck("final_right", replay["final_right"])] if "final_right" in replay else []),
        ProductCheck("switches_per_utterance", replay["switches_per_utterance"], t["switches"],
                     replay["switches_per_utterance"] <= t["switches"]),
        ProductCheck("late_pause_speech", replay["late_pause_speech"], t["late_pause_speech"],
                     replay["late_pause_speech"] <= t["late_pause_speech"]),
        ProductCheck("updates_per_s", replay["updates_per_s"], t["updates_per_s"],
                     replay["updates_per_s"] >= t["updates_per_s"]),
    )
    scored = Path(record.get("model") or DEFAULT_MODEL_NAME)
    named = "" if scored.name == DEFAULT_MODEL_NAME else f"--model {from_checkout(scored)} "  # default: the bundled one
    command = (f"serapp-train evaluate {named}--split {run_dir.as_posix()}/split.json --part test --product "
               f"--out {run_dir.as_posix()}/product-path")
    figure = run_dir / "product-path" / LIVE_FIGURE
    link = relative(figure, out) if out is not None and figure.exists() else None
    return ProductPath(pp, checks, command, bool((config.get("augment") or {}).get("p_partial")), link)


def teachers(model_path: Path, run_dir: Path, config: dict[str, Any], split: dict[str, Any]) -> Teachers | None:
    """Each claim about a distilled model's teachers (its teacher record, from the model's metadata or
    ``run_dir/teachers.json``) and whether it was checked here (:func:`serapp_train.provenance.verify`); ``None``
    for a model without teachers."""
    from . import provenance

    if not config.get("teachers"):
        return None
    record, found_in = provenance.find(model_path, run_dir)
    if record is None:
        return Teachers(None)
    checks = provenance.verify(record, found_in=found_in, model_path=model_path, student_config=config,
                               student_split=split)
    return Teachers(found_in, tuple(TeacherCheck(c.subject, c.claim, c.status, c.how) for c in checks),
                    record.get("note") or "")


def selection(record: dict[str, Any], split: dict[str, Any], root: Path, run_dir: Path, out: Path) -> Selection:
    """From ``run_dir/selection.json`` (``record``): on what the model's family was chosen (with the overlap,
    recomputed from the corpora under ``root``, between that comparison's test speakers and this model's), and
    which candidates' test figures were seen. Links are relative to the card ``out``; each candidate's
    ``record`` is relative to ``run_dir``."""
    from . import corpora
    from .config import TrainConfig
    from .data import choose_split, limit_per_corpus

    choice = None
    family = record.get("family_choice")
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
        choice = FamilyChoice(
            chosen=family["chosen"], over=family["over"], judged_on=family["judged_on"], compare=family["compare"],
            link=relative(Path(family["compare"]).parent / "README.md", out), protocol=config.protocol,
            folds=tuple(report["folds"]), chosen_uar=chosen["uar"], over_uar=over["uar"], why=family["why"],
            shared_speakers=tuple(shared), shared_clips=sum(1 for c in clips if c.speaker in shared),
            test_speakers=len(ours))

    def candidates(items: list[dict[str, Any]]) -> tuple[Candidate, ...]:
        return tuple(Candidate(item["name"], relative(run_dir / item["record"], out) if item.get("record") else None)
                     for item in items)

    seen = record.get("test_figures_seen") or {}
    return Selection(family=choice, scope=seen.get("scope", ""),
                     until_shipped=candidates(seen.get("until_shipped", [])),
                     since_kept=candidates(seen.get("since_kept", [])),
                     ensembles=candidates(seen.get("ensembles_of_students", [])), seen=bool(seen),
                     own_seen=bool(seen.get("own_figures_seen", True)))


# ---------------------------------------------------------------------------------------------- the card
def collect(run_dir: Path, model: OnnxModel, root: Path, out: Path, *, command: str = "", notes: str = "",
            crossval_dir: Path | None = None, written_by: str = "",
            on_checks: Callable[[Teachers | None], None] | None = None) -> tuple[CardData, Scored]:
    """Measure and read everything the card of ``model`` (trained in ``run_dir``, written to ``out``) states;
    returns the data and the clean test scores (for the confusion matrix, written beside the card). Teacher
    checks are made first and passed to ``on_checks`` (a quick failed check shows before the long scoring)."""
    from . import corpora
    from .scoring import score

    folder = RunFolder(run_dir)
    if not folder.has(SPLIT):
        raise SerappError(f"{run_dir}: not a run folder (no split.json).")
    config, split, run_metrics = folder.config_record(), folder.split(), folder.metrics()
    speakers = set(split.get("test_speakers", []))
    if not speakers:
        raise SerappError(f"{run_dir}: the run has no test speakers (trained on all speakers?); a card needs them.")
    teacher_checks = teachers(model.path, run_dir, config, split)
    record = folder.selection()
    chosen = selection(record, split, root, run_dir, out) if record is not None else None
    product = folder.product_path()
    adapting = folder.adaptation() if model.adaptable else None
    if on_checks is not None:
        on_checks(teacher_checks)
    every = corpora.scan(root)
    clips = [c for c in every if c.speaker in speakers]
    clean = score(model, clips)
    curves = run_dir / "curves.png"
    data = CardData(
        model=model_facts(model, run_metrics.get("n_params", 0)),
        latency=measure_latency(model),
        corpora=corpus_facts(list(model.info.corpora), every, sorted(speakers), root, tuple(model.labels)),
        protocol=protocol(folder),
        results=clean.metrics.to_dict(),
        calibration=calibration(model, clean, run_metrics),
        robustness=robustness(model, clips, clean),
        confusion_link=relative(out.parent / f"{out.stem}-confusion.png", out),
        curves_link=relative(curves, out) if curves.exists() else None,
        crossval=crossval(crossval_dir, config, out) if crossval_dir else None,
        product_path=product_path(product, run_dir, config, out) if product is not None else None,
        adaptation=adaptation(adapting, run_dir, out) if adapting is not None else None,
        teachers=teacher_checks, selection=chosen, notes=notes, command=command, run_name=run_dir.name,
        written_by=written_by)
    return data, clean
