"""Evaluation metrics, calibration and plots. Pure functions on integer labels and probability arrays.

``y_true``: ``(N,)`` int class indices into ``labels``; ``y_prob``: ``(N, C)`` probabilities (rows sum to 1);
where a function takes predictions, either ``(N,)`` int indices or ``(N, C)`` probabilities (argmax) work.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from serapp.engine.model import calibrate
from serapp.errors import SerappError

ECE_BINS = 15
_EPS = 1e-12


def _predictions(y_pred_or_prob: np.ndarray) -> np.ndarray:
    arr = np.asarray(y_pred_or_prob)
    return arr.argmax(axis=1) if arr.ndim == 2 else arr.astype(int)


def _check(y_true: np.ndarray, y_pred: np.ndarray, n_labels: int) -> None:
    if len(y_true) != len(y_pred):
        raise SerappError(f"Labels and predictions differ in length: {len(y_true)} vs {len(y_pred)}.")
    if len(y_true) == 0:
        raise SerappError("Cannot compute metrics on zero examples.")
    for name, arr in (("labels", y_true), ("predictions", y_pred)):
        if arr.min() < 0 or arr.max() >= n_labels:
            raise SerappError(f"Class indices in the {name} must be within 0..{n_labels - 1}.")


# ---------------------------------------------------------------------------------------------- scores


@dataclass
class ClassScores:
    """Precision, recall and F1 of one class, and its number of true examples (support)."""

    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class Metrics:
    """Scores of predictions against the truth (all in [0, 1]); ``confusion[i][j]`` counts true ``i``
    predicted ``j`` in ``labels`` order; ``per_corpus`` holds the same scores for each corpus."""

    n: int
    labels: list[str]
    accuracy: float
    macro_f1: float
    weighted_f1: float
    uar: float
    per_class: dict[str, ClassScores]
    confusion: list[list[int]]
    per_corpus: dict[str, Metrics] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Share of correct predictions."""
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(y_true, _predictions(y_pred)))


def f1(y_true: np.ndarray, y_pred: np.ndarray, average: str = "macro") -> float:
    """F1 averaged over the classes present in ``y_true`` or ``y_pred`` (``macro`` or ``weighted``)."""
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, _predictions(y_pred), average=average, zero_division=0))


def uar(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Unweighted average recall: mean recall over the classes present in ``y_true`` (balanced accuracy;
    a prediction of a class absent from ``y_true`` simply counts as wrong)."""
    y_true, pred = np.asarray(y_true), _predictions(y_pred)
    return float(np.mean([np.mean(pred[y_true == c] == c) for c in np.unique(y_true)]))


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_labels: int) -> np.ndarray:
    """Confusion counts ``(n_labels, n_labels)``: row = true class, column = predicted class (predictions
    outside ``0..n_labels-1`` are not counted)."""
    y_true, pred = np.asarray(y_true).astype(int), _predictions(y_pred)
    keep = (pred >= 0) & (pred < n_labels)
    cm = np.zeros((n_labels, n_labels), dtype=np.int64)
    np.add.at(cm, (y_true[keep], pred[keep]), 1)
    return cm


def per_class(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> dict[str, ClassScores]:
    """Precision, recall, F1 and support of every label (0 where undefined)."""
    from sklearn.metrics import precision_recall_fscore_support

    p, r, f, s = precision_recall_fscore_support(y_true, _predictions(y_pred), labels=np.arange(len(labels)),
                                                 zero_division=0)
    return {name: ClassScores(float(p[i]), float(r[i]), float(f[i]), int(s[i])) for i, name in enumerate(labels)}


def evaluate(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str],
             corpora: np.ndarray | Sequence[str] | None = None) -> Metrics:
    """Every score of ``y_pred`` (indices or probabilities) against ``y_true``; with ``corpora`` (one corpus
    name per example) also per corpus, each restricted to the labels that corpus has."""
    y_true = np.asarray(y_true).astype(int)
    pred = _predictions(y_pred)
    _check(y_true, pred, len(labels))
    result = Metrics(n=len(y_true), labels=list(labels), accuracy=accuracy(y_true, pred),
                     macro_f1=f1(y_true, pred, "macro"), weighted_f1=f1(y_true, pred, "weighted"),
                     uar=uar(y_true, pred), per_class=per_class(y_true, pred, labels),
                     confusion=confusion(y_true, pred, len(labels)).tolist())
    if corpora is not None:
        corpora = np.asarray(corpora)
        if len(corpora) != len(y_true):
            raise SerappError(f"Got {len(corpora)} corpus names for {len(y_true)} examples.")
        for name in sorted(set(corpora.tolist())):
            rows = corpora == name
            present = np.unique(y_true[rows])
            # Restricted to the corpus's own classes: a prediction outside them is simply wrong (it counts in
            # accuracy and recall, not in the confusion columns) and the F1 average is over its classes only.
            sub_labels = [labels[i] for i in present]
            remap = np.full(len(labels) + 1, len(present), dtype=int)
            remap[present] = np.arange(len(present))
            yt, yp = remap[y_true[rows]], remap[pred[rows]]
            result.per_corpus[name] = Metrics(
                n=int(rows.sum()), labels=sub_labels, accuracy=accuracy(yt, yp),
                macro_f1=_f1_over(yt, yp, len(present), "macro"),
                weighted_f1=_f1_over(yt, yp, len(present), "weighted"),
                uar=uar(yt, yp), per_class=per_class(yt, yp, sub_labels),
                confusion=confusion(yt, yp, len(present)).tolist())
    return result


def _f1_over(y_true: np.ndarray, y_pred: np.ndarray, n: int, average: str) -> float:
    """F1 averaged over classes ``0..n-1`` only (index ``n`` stands for "a class outside this set")."""
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, labels=np.arange(n), average=average, zero_division=0))


def report(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str],
           corpora: np.ndarray | Sequence[str] | None = None) -> dict[str, Any]:
    """:func:`evaluate` as a JSON-ready dict."""
    return evaluate(y_true, y_pred, labels, corpora).to_dict()


def format_report(m: Metrics | dict[str, Any]) -> str:
    """A plain-text summary: headline scores, the per-class table and the per-corpus table."""
    d = m.to_dict() if isinstance(m, Metrics) else m
    lines = [f"n = {d['n']}: accuracy {d['accuracy']:.3f}  macro-F1 {d['macro_f1']:.3f}  "
             f"weighted-F1 {d['weighted_f1']:.3f}  UAR {d['uar']:.3f}", "",
             f"{'class':12s} {'precision':>9s} {'recall':>7s} {'F1':>6s} {'support':>8s}"]
    for name, s in d["per_class"].items():
        lines.append(f"{name:12s} {s['precision']:9.3f} {s['recall']:7.3f} {s['f1']:6.3f} {s['support']:8d}")
    if d.get("per_corpus"):
        lines += ["", f"{'corpus':12s} {'n':>6s} {'accuracy':>8s} {'macro-F1':>8s} {'UAR':>6s}"]
        for name, c in d["per_corpus"].items():
            lines.append(f"{name:12s} {c['n']:6d} {c['accuracy']:8.3f} {c['macro_f1']:8.3f} {c['uar']:6.3f}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- calibration


# Bootstrap resamples and seed of the shares' intervals: enough for a stable 95 % interval, seeded for records that
# do not change from run to run.
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


def _groups(counts: np.ndarray) -> np.ndarray:
    return np.asarray(counts, np.float64).reshape(-1, 2)


def _resampled(groups: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """The share ``sum(successes) / sum(trials)`` of each resample (a row of ``picks``, group indices)."""
    return groups[picks, 1].sum(axis=1) / np.maximum(groups[picks, 0].sum(axis=1), 1e-12)


def _bootstrap(n_groups: int) -> np.ndarray:
    """:data:`BOOTSTRAP_RESAMPLES` resamples of ``n_groups`` group indices, seeded."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    return rng.integers(0, n_groups, (BOOTSTRAP_RESAMPLES, n_groups))


def _percentile_interval(values: np.ndarray, level: float) -> tuple[float, float]:
    tail = 100 * (1 - level) / 2
    return float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))


def share_interval(counts: np.ndarray, *, level: float = 0.95) -> tuple[float, float]:
    """A percentile bootstrap interval of a share counted in groups: ``counts`` ``(n_groups, 2)`` holds each group's
    (trials, successes), e.g. an utterance's live updates and those right; groups are resampled whole, because
    the trials within one are far from independent. ``(low, high)`` of ``sum(successes) / sum(trials)``."""
    groups = _groups(counts)
    if groups.shape[0] == 0 or groups[:, 0].sum() <= 0:
        raise SerappError("A share's interval needs at least one group with trials.")
    return _percentile_interval(_resampled(groups, _bootstrap(groups.shape[0])), level)


def paired_difference_interval(a: np.ndarray, b: np.ndarray, *, level: float = 0.95) -> tuple[float, float]:
    """A percentile bootstrap interval of ``share(b) - share(a)`` where ``a`` and ``b`` count the same groups (same
    rows, as :func:`share_interval`'s ``counts``) for two models: the groups are resampled together, so what both
    find hard or easy cancels out."""
    a, b = _groups(a), _groups(b)
    if a.shape != b.shape or a.shape[0] == 0:
        raise SerappError("A paired difference needs the same groups counted for both, at least one.")
    picks = _bootstrap(a.shape[0])
    return _percentile_interval(_resampled(b, picks) - _resampled(a, picks), level)


def ece(y_prob: np.ndarray, y_true: np.ndarray, n_bins: int = ECE_BINS) -> float:
    """Expected calibration error: over ``n_bins`` equal-width confidence bins, the example-weighted mean of
    |accuracy - mean confidence|. ``y_prob`` ``(N, C)``; returns a value in [0, 1]."""
    y_prob = np.asarray(y_prob, dtype=np.float64)
    conf = y_prob.max(axis=1)
    correct = (y_prob.argmax(axis=1) == np.asarray(y_true)).astype(np.float64)
    # bins (k/n, (k+1)/n], with confidence 0 in the first bin
    bins = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    total = 0.0
    for b in np.unique(bins):
        rows = bins == b
        total += rows.sum() * abs(correct[rows].mean() - conf[rows].mean())
    return float(total / max(len(conf), 1))


def apply_temperature(y_prob: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log p / T)``, exactly as the engine serves it. ``(N, C)`` -> ``(N, C)`` float32."""
    return calibrate(y_prob, temperature)


def nll(y_prob: np.ndarray, y_true: np.ndarray) -> float:
    """Mean negative log-likelihood of the true class (nats)."""
    p = np.asarray(y_prob, dtype=np.float64)[np.arange(len(y_true)), np.asarray(y_true)]
    return float(-np.mean(np.log(np.clip(p, _EPS, 1.0))))


def fit_temperature(logits_or_probs_val: np.ndarray, y_val: np.ndarray, *, from_logits: bool = False) -> float:
    """Temperature T in [0.05, 20] minimising validation NLL of ``softmax(z / T)``.

    ``logits_or_probs_val``: ``(N, C)`` validation probabilities (or logits with ``from_logits=True``);
    fit on *validation* data only, never on the test fold. Bounded scalar search over log T.
    """
    from scipy.optimize import minimize_scalar

    z = np.asarray(logits_or_probs_val, dtype=np.float64)
    y_val = np.asarray(y_val).astype(int)
    if z.ndim != 2 or len(z) != len(y_val) or len(z) == 0:
        raise SerappError(f"Temperature fitting needs (N, C) scores for N labels, got {z.shape} and {len(y_val)}.")
    if not from_logits:
        z = np.log(np.clip(z, _EPS, 1.0))

    def objective(log_t: float) -> float:
        s = z / np.exp(log_t)
        s = s - s.max(axis=1, keepdims=True)
        log_p = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
        return float(-log_p[np.arange(len(y_val)), y_val].mean())

    found = minimize_scalar(objective, bounds=(np.log(0.05), np.log(20.0)), method="bounded",
                            options={"xatol": 1e-4})
    return float(np.exp(found.x))


# ---------------------------------------------------------------------------------------------- plots


def plot_confusion(cm: np.ndarray, labels: Sequence[str], path: Path, title: str = "") -> Path:
    """Save the confusion matrix as a PNG: rows normalised to recall (colour and %), counts annotated."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(cm)
    rates = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    size = 1.0 + 0.75 * len(labels)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, f"{100 * rates[i, j]:.0f}%\n{cm[i, j]}", ha="center", va="center", fontsize=8,
                    color="white" if rates[i, j] > 0.5 else "black")
    ax.set(xticks=range(len(labels)), yticks=range(len(labels)), xlabel="predicted", ylabel="true", title=title)
    ax.set_xticklabels(labels, rotation=45, ha="right")
    ax.set_yticklabels(labels)
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of true class")
    fig.tight_layout()
    return _save(fig, Path(path))


def plot_live_by_time(since_start: Sequence[Sequence[float | None]], path: Path, title: str = "") -> Path:
    """Save the live replay's shares by time since speech began as a PNG: per span (``[from_s, to_s, updates,
    live_right, final_right]`` rows, ``to_s`` None for the last, open span), the share of speech updates the live
    display got right beside the share its final answer for the utterance would have got right shown from the
    start (the ceiling), with each span's update count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in since_start if r[2]]
    names = [f"{r[0]:g}-{r[1]:g} s" if r[1] is not None else f"{r[0]:g} s on" for r in rows]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for offset, column, label, colour in ((-0.2, 3, "live display", "#3b75af"),
                                          (0.2, 4, "final answer, shown from the start", "#c9c9c9")):
        values = [100 * float(r[column]) for r in rows]
        bars = ax.bar(x + offset, values, width=0.4, label=label, color=colour)
        ax.bar_label(bars, fmt="%.0f%%", fontsize=8)
    ax.set_xticks(x, [f"{n}\n{int(r[2])} updates" for n, r in zip(names, rows, strict=True)])
    ax.set(ylim=(0, 100), ylabel="speech updates right (%)", xlabel="time since the utterance's speech began",
           title=title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_history(history: dict[str, Sequence[float]], path: Path) -> Path:
    """Save loss and accuracy per epoch (training and ``val_`` curves) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key in zip(axes, ("loss", "accuracy"), strict=True):
        for name, style in ((key, "-"), (f"val_{key}", "--")):
            if history.get(name):
                values = list(history[name])
                ax.plot(range(1, len(values) + 1), values, style, label=name)
        ax.set(xlabel="epoch", ylabel=key, title=key)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
    fig.tight_layout()
    return _save(fig, Path(path))


def _save(fig: Any, path: Path) -> Path:
    """Write the figure as a small (palette-quantised) PNG, atomically, and close it."""
    from .figures import save_figure

    return save_figure(fig, path)
