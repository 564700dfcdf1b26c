"""`serapp-train select`: rank variants of a training config by speaker cross-validation on its non-test speakers.

One validation fold (a tenth of the speakers) ranks close variants by chance: on the shipped split, Whisper heads
that differed by 2-3 validation points swapped order once every non-test speaker was scored. Here the training
and validation speakers of the base config's split are dealt into ``k`` groups corpus by corpus
(:func:`serapp_train.splits.speaker_kfold_by_corpus`, every speaker held out once); each variant is fitted ``k``
times (early stopping on a tenth of the remaining speakers, scoring on the held-out group) and ranked by UAR over
the pooled held-out predictions. The split's test speakers are removed before anything is dealt: no fit and no
score ever sees them.

A search is data, a JSON file::

    {"base": "whisper-tiny.json", "k": 4, "variants": [{}, {"dropout": 0.5}, {"model_options": {...}}]}

``base`` is a training config (relative to the search file); each variant names the fields it changes. Cheap for
encoder families (heads on cached embeddings, seconds a fit); any neural family works at its own training cost.
Writes ``<out>/<search name>.json`` (the ranking, per-corpus UARs, the speakers used) and prints the table.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from serapp.errors import SerappError

DEFAULT_OUT = Path("runs/select")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("search", type=Path, help="search file: base config, k and variants (see the module)")
    parser.add_argument("--root", type=Path, default=None, help="corpora folder (default: SERAPP_CORPORA)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"folder of the record (default {DEFAULT_OUT})")


def read_search(path: Path) -> tuple[Any, int, list[dict[str, Any]], list[Any]]:
    """The search file's base :class:`~serapp_train.config.TrainConfig`, ``k``, variants and the variants' configs
    (each checked, so a typo fails before the first fit); :class:`SerappError` if anything is wrong."""
    from .config import TrainConfig

    try:
        search = json.loads(Path(path).read_text(encoding="utf-8"))
        base = TrainConfig.from_json((Path(path).parent / search["base"]).read_text(encoding="utf-8"))
        k, variants = int(search.get("k", 4)), list(search["variants"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SerappError(f"{path}: not a search file ({exc}); it needs 'base' and 'variants'.") from exc
    if k < 2 or not variants or not all(isinstance(v, dict) for v in variants):
        raise SerappError(f"{path}: k must be >= 2 and variants a non-empty list of objects.")
    configs = []
    for variant in variants:
        try:
            configs.append(base.replace(**variant))
        except TypeError as exc:  # a field the config does not have
            raise SerappError(f"{path}: variant {json.dumps(variant)} is not a training config change ({exc}).") \
                from exc
        # The data is loaded once, for the base config: a variant may not change what is loaded.
        if configs[-1].encoder_cache != base.encoder_cache:
            raise SerappError(f"{path}: variant {json.dumps(variant)} changes the head's pooling, hence the cache "
                              "its data comes from; every variant shares the base's data: set pooling in the base.")
    return base, k, variants, configs


def cross_validate(config: Any, data: Any, rows: np.ndarray, k: int, *, seed: int = 0) -> dict[str, Any]:
    """UAR (overall and per corpus) of ``config`` over speaker folds of ``rows`` (indices into ``data``, test
    speakers already removed): ``k`` fits, each scored on its held-out speakers, predictions pooled; ``scored``
    counts the clips held out once (a corpus with one speaker here is never held out, so never scored)."""
    from . import splits
    from .fitting import fit_keras
    from .metrics import uar
    from .scoring import predict_proba

    clips = [data.clips[i] for i in rows]
    pred = np.full(len(rows), -1)
    for split in splits.speaker_kfold_by_corpus(clips, k, seed=seed, val_fraction=0.1):
        fold = dataclasses.replace(data, split=splits.Split(split.name, rows[split.train], rows[split.test],
                                                            rows[split.val]))
        with tempfile.TemporaryDirectory() as scratch:  # fit_keras checkpoints there; a fold keeps nothing
            model, _, _ = fit_keras(config, fold, Path(scratch), verbose=0)
        pred[split.test] = predict_proba(model, data.features[rows[split.test]], len(data.labels)).argmax(axis=1)
    # a corpus with one non-test speaker always trains (no fold can hold it out): it is never scored
    tested = pred >= 0
    y, corpora = data.y[rows][tested], np.array([c.corpus for c in clips])[tested]
    pred = pred[tested]
    return {"uar": uar(y, pred), "scored": int(tested.sum()),
            "per_corpus": {c: uar(y[corpora == c], pred[corpora == c]) for c in sorted(set(corpora))}}


def run(args: argparse.Namespace) -> int:
    from .data import load_data
    from .jsonfile import write_json

    base, k, variants, configs = read_search(args.search)
    data = load_data(base, args.root)
    test_speakers = {data.clips[i].speaker for i in data.split.test}
    rows = np.sort(np.concatenate([data.split.train, data.split.val]))
    results = []
    for variant, config in tqdm(list(zip(variants, configs, strict=True)), desc="variants", unit="variant"):
        results.append({"variant": variant, **cross_validate(config, data, rows, k, seed=base.speaker_seed)})
    ranked = sorted(results, key=lambda r: -r["uar"])
    record = {"created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "command": getattr(args, "command_line", "serapp-train select"), "base": base.to_dict(), "k": k,
              "metric": "UAR over pooled held-out speaker folds of the non-test speakers",
              "speakers": len({c.speaker for c in (data.clips[i] for i in rows)}),
              "test_speakers_excluded": sorted(test_speakers), "ranking": ranked}
    out = Path(args.out) / f"{args.search.stem}.json"
    write_json(out, record)
    for r in ranked:
        corpora = "  ".join(f"{c} {100 * v:.1f}" for c, v in r["per_corpus"].items())
        print(f"{100 * r['uar']:5.1f}%  {json.dumps(r['variant'])}  ({corpora})")
    print(f"record: {out}")
    return 0
