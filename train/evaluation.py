"""Exported models scored on corpus clips into a folder (``metrics.json``, ``confusion.png``): what `serapp-train
evaluate` and a recipe's evaluate step (:mod:`serapp_train.recipe`) write.

The models are scored as the app serves them (:func:`serapp_train.scoring.score`: each with its own features and
temperature; several models are an ensemble, their mean probability). ``metrics.json`` says which speakers were
scored and whether the figures may choose between models (a run's validation speakers) or are reported only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from serapp.errors import SerappError

if TYPE_CHECKING:
    from serapp.engine.model import OnnxModel

    from .corpora import Clip
    from .scoring import Condition, Scored


def split_speakers(path: Path, part: str) -> list[str]:
    """The speaker ids of one part (``val`` or ``test``) of a run's ``split.json``."""
    from .runfolder import split_file

    key = f"{part}_speakers"
    split = split_file(path)
    speakers = split.get(key) if isinstance(split, dict) else None
    if not speakers:
        raise SerappError(f"{path} lists no {key}; it should be the split.json of a run folder.")
    return list(speakers)


def scored_part(split: Path | None, part: str) -> dict[str, Any]:
    """What ``metrics.json`` says about the speakers scored: the run's ``split.json`` and part, and whether the
    figures may choose between models (a split's validation speakers) or are reported only (its test speakers,
    or speakers named outside any run's split)."""
    if split is None:
        return {"split": None, "part": None, "use": "reported only (speakers outside a run's split)"}
    use = "selection (validation speakers)" if part == "val" else "reported only (test speakers: never choose on these)"
    return {"split": str(split), "part": part, "use": use}


def part_clips(root: Path, split: Path, part: str, *, limit: int | None = None, seed: int = 0) -> list[Clip]:
    """The clips under ``root`` of the speakers of one part of a run's ``split.json``, at most ``limit`` per corpus
    (a seeded subset)."""
    from . import corpora
    from .data import limit_per_corpus

    speakers = set(split_speakers(split, part))
    clips = limit_per_corpus([c for c in corpora.scan(root) if c.speaker in speakers], limit, seed)
    if not clips:
        raise SerappError(f"No clips of {split}'s {part} speakers under {root}.")
    return clips


def evaluate_into(out: Path, model: OnnxModel, clips: Sequence[Clip], condition: Condition | None = None,
                  members: Sequence[OnnxModel] = (), *, split: Path | None = None,
                  part: str = "test") -> tuple[Scored, dict[str, Any], Path]:
    """Score ``model`` (with ``members``, an ensemble) on ``clips`` and write ``out/metrics.json`` and
    ``out/confusion.png`` (``condition``: clean audio by default); returns the scores, the ``metrics.json`` content
    and the figure's path."""
    from . import metrics
    from .jsonfile import write_json
    from .scoring import Condition, score

    condition = condition or Condition()
    scored = score(model, clips, condition, members)
    summary = {**scored.summary(model), "members": [str(m.path) for m in members], **scored_part(split, part)}
    Path(out).mkdir(parents=True, exist_ok=True)
    write_json(Path(out) / "metrics.json", summary)
    plot = metrics.plot_confusion(np.asarray(scored.metrics.confusion), model.labels, Path(out) / "confusion.png",
                                  title=f"{model.path.stem} — {condition.describe()}")
    return scored, summary, plot
