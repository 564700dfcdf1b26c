"""Training-config flags on the command line: `serapp-train train` and `compare` share them, and a teacher's recorded
recipe (:func:`serapp_train.provenance.recipe_config`) is read through them.

Unset flags are absent from the parsed namespace (``argparse.SUPPRESS``), so a ``--config`` file's values stand
unless a flag changes them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from serapp.errors import SerappError

from .augment import AugmentConfig
from .config import IMBALANCE, PROTOCOLS, SCHEDULES, TrainConfig
from .models import CLASSICAL, DEFAULT_FAMILY, FAMILIES


def _key_values(items: Sequence[str], what: str) -> dict[str, Any]:
    """``["a=1", "b=x"]`` -> ``{"a": 1, "b": "x"}`` (values parsed as JSON where they parse)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise SerappError(f"{what} takes KEY=VALUE, got {item!r}.")
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError:
            out[key] = text
    return out


def add_config_arguments(parser: argparse.ArgumentParser, *, family: bool = True) -> None:
    """Training-config flags (shared with `compare`). Unset flags keep the ``--config`` file's or default value."""
    s = argparse.SUPPRESS
    g = parser.add_argument_group("training config (defaults: TrainConfig)")
    g.add_argument("--config", type=Path, default=s, help="start from this config.json (e.g. an earlier run's)")
    if family:
        g.add_argument("--family", default=s, choices=[*FAMILIES, *CLASSICAL],
                       help=f"model family (default {DEFAULT_FAMILY})")
    g.add_argument("--spec", type=Path, default=s, help="feature spec JSON file (default: the family's)")
    g.add_argument("--spec-set", action="append", default=s, metavar="KEY=VALUE",
                   help="change one feature-spec field, e.g. --spec-set n_mels=32 (repeatable)")
    g.add_argument("--corpora", default=s, help="comma-separated corpus names (default: all found)")
    g.add_argument("--protocol", default=s, choices=list(PROTOCOLS),
                   help="speaker-kfold (default; folds over all speakers jointly), corpus-kfold (each corpus's "
                   "speakers in k folds: every corpus tested in every fold, e.g. SAVEE leave-one-speaker-out "
                   "with k=4), speaker-holdout, loco, or random (speaker-DEPENDENT, opt-in)")
    g.add_argument("--fold", type=int, default=s, help="1-based fold for the k-fold protocols and loco (default 1)")
    g.add_argument("--k", type=int, default=s, help="folds for speaker-kfold and corpus-kfold (default 5)")
    g.add_argument("--test-fraction", type=float, default=s, help="speaker-holdout / random test share (0.2)")
    g.add_argument("--val-fraction", type=float, default=s, help="share of training speakers for validation (0.1)")
    g.add_argument("--all-speakers", action="store_true", default=s,
                   help="train on every speaker but the validation ones (no test fold), for shipping")
    g.add_argument("--seed", type=int, default=s)
    g.add_argument("--split-seed", type=int, default=s,
                   help="seed of the speaker split and --limit subset (default: --seed); fix it to vary --seed alone")
    g.add_argument("--epochs", type=int, default=s)
    g.add_argument("--batch-size", type=int, default=s)
    g.add_argument("--lr", dest="learning_rate", type=float, default=s, help="initial learning rate (1e-3)")
    g.add_argument("--schedule", choices=SCHEDULES, default=s, help="learning-rate schedule (cosine)")
    g.add_argument("--patience", type=int, default=s, help="early-stopping patience in epochs (8)")
    g.add_argument("--imbalance", choices=IMBALANCE, default=s,
                   help="class imbalance handling: class_weight (default), corpus_class_weight (every corpus's "
                        "every class weighs the same), oversample or none")
    g.add_argument("--augment", default=s, metavar="PRESET|FILE.json",
                   help="augmentation: none (default), spec, light, strong, or an AugmentConfig JSON file")
    g.add_argument("--views", type=int, default=s,
                   help="encoder families: augmented copies of each training clip, encoded once and cached (0)")
    g.add_argument("--prefix-views", type=int, default=s,
                   help="encoder families: copies of each training clip's beginning (its first prefix_s seconds), "
                        "encoded once and cached (0)")
    g.add_argument("--views-seed", type=int, default=s,
                   help="seed of the views' augmentations (default: --seed); fix it to vary --seed on cached views")
    g.add_argument("--label-smoothing", type=float, default=s)
    g.add_argument("--mixup", dest="mixup_alpha", type=float, default=s, help="mixup Beta alpha (0 = off)")
    g.add_argument("--dropout", type=float, default=s, help="dropout rate (default: the family's)")
    g.add_argument("--no-fold-calm", dest="fold_calm", action="store_false", default=s,
                   help="drop RAVDESS 'calm' instead of folding it into neutral")
    g.add_argument("--limit", type=int, default=s, help="at most this many clips per corpus (quick runs)")
    g.add_argument("--teacher", dest="teachers", action="append", default=s, metavar="RUN_DIR",
                   help="distil from this exported run trained on the same training speakers (repeatable)")
    g.add_argument("--distill-weight", type=float, default=s,
                   help="share of each target taken from the teachers' mean probabilities (0.5)")
    g.add_argument("--option", action="append", default=s, metavar="KEY=VALUE",
                   help="model builder option, e.g. --option width=48 (repeatable)")


def add_runtime_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags that change where and how fast a run goes, not what it computes."""
    g = parser.add_argument_group("run")
    g.add_argument("--root", type=Path, default=None, help="corpora folder (default: $SERAPP_CORPORA or "
                   "../shared/corpora)")
    g.add_argument("--workers", type=int, default=1, help="threads preparing training batches (1)")
    g.add_argument("--extract-workers", type=int, default=None, help="processes filling the feature cache "
                   "(default: all cores)")
    g.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")


def config_from_args(args: argparse.Namespace, **overrides: Any) -> TrainConfig:
    """The TrainConfig the flags describe: ``--config`` file (if any), then each flag given, then ``overrides``."""
    base: dict[str, Any] = {}
    if "config" in args:
        try:
            base = json.loads(Path(args.config).read_text(encoding="utf-8"))
        except OSError as exc:
            raise SerappError(f"{args.config}: cannot read the training config ({exc.strerror}).") from exc
        except json.JSONDecodeError as exc:
            raise SerappError(f"{args.config}: not valid JSON ({exc.msg}).") from exc
    values = TrainConfig.from_dict(base).to_dict() if base else {}
    given = vars(args)
    names = {f.name for f in dataclasses.fields(TrainConfig)} - {"spec", "augment", "corpora", "model_options"}
    values.update({k: given[k] for k in names if k in given})
    if ("family" in given or "family" in overrides) and "spec" not in given:
        values.pop("spec", None)  # a new family without a spec file takes its own default features
    if "corpora" in given:
        values["corpora"] = [c.strip() for c in given["corpora"].split(",") if c.strip()]
    if "augment" in given:
        values["augment"] = AugmentConfig.preset(given["augment"]).to_dict()
    if "option" in given:
        values["model_options"] = {**values.get("model_options", {}), **_key_values(given["option"], "--option")}
    values.update(overrides)
    spec_data: dict[str, Any] | None = values.get("spec")
    if "spec" in given:
        try:
            spec_data = json.loads(Path(given["spec"]).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise SerappError(f"{given['spec']}: cannot read the feature spec ({exc}).") from exc
    if "spec_set" in given:
        fam_spec = TrainConfig(family=values.get("family", DEFAULT_FAMILY)).feature_spec
        spec_data = {**(spec_data or fam_spec.to_dict()), **_key_values(given["spec_set"], "--spec-set")}
    values["spec"] = spec_data
    return TrainConfig.from_dict(values)


