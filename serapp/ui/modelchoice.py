"""Which model the window uses (no Qt): the one asked for, else the bundled one when none is loaded yet, and the
words the banner shows about it.

The policy: at start the ``--model`` file, else the saved choice, else the bundled default. A file that is missing
or cannot be used keeps the model already loaded; with none loaded yet (start-up) the bundled model stands in, so
the app always starts with one when it can. Only a choice that loaded without a problem is saved, and never
``--model`` (a one-off for this run), so a broken saved file stays the user's choice until they replace it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from serapp.errors import SerappError

M = TypeVar("M")  # the model type: OnnxModel in the app, anything with a path in the tests
ModelLoader = Callable[[str | None], M]  # path (None = the bundled model) -> model, or SerappError with a reason


@dataclass(frozen=True)
class ModelOutcome(Generic[M]):
    """What :func:`choose_model` decided: the model to use (``None``: keep the current one), the problem to show
    ("" = none) and whether the path should be saved as the user's choice."""

    model: M | None
    problem: str
    persist: bool


def startup_path(cli_model: str | None, saved_model: str) -> str:
    """The model file to load at start: ``--model``, else the saved choice, else "" (the bundled one). Loading it
    never updates the saved choice (``--model`` is for this run; the saved one is saved already)."""
    return cli_model or saved_model


def try_load(load: ModelLoader[M], path: str) -> tuple[M | None, str]:
    """``(model, "")`` or ``(None, plain reason)``; ``path`` "" means the bundled model."""
    try:
        return load(path or None), ""
    except SerappError as exc:
        return None, str(exc)


def choose_model(load: ModelLoader[M], path: str, current: M | None, persist: bool = True) -> ModelOutcome[M]:
    """Load ``path`` ("" = the bundled model) by the policy above. ``current``: the model in use, if any.
    ``persist``: the caller would save ``path`` as the user's choice (a file chosen in the window)."""
    model, reason = try_load(load, path)
    if model is None and path and current is None:
        # A missing or broken --model (or saved model) must not leave the app without one.
        model, bundled_reason = try_load(load, "")
        reason = (f"{reason} The bundled model cannot be used either: {bundled_reason}" if model is None
                  else f"{reason} Using the bundled model {_name(model)} instead.")
    if model is None:
        kept = (f" Keeping {_name(current)}." if current is not None else
                " Live analysis and file analysis are off until a model is chosen (Live › Choose model…).")
        return ModelOutcome(None, f"No model: {reason}{kept}", False)
    return ModelOutcome(model, reason and f"Model problem: {reason}", persist and not reason)


def _name(model: object) -> str:
    """The model's file name (``model.path``), as the banner names it."""
    return Path(getattr(model, "path", "")).name
