"""Helpers for the model and export tests: tiny feature specs and real clip features at those specs."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np

from serapp.engine.audio import load
from serapp.engine.features import features_from_prepared, prepare_batch
from serapp.engine.spec import FeatureSpec

# 1-s windows, 32 mels, 32x32 images: every family builds, trains a step and exports in seconds.
TINY = {"duration_s": 1.0, "n_mels": 32, "n_mfcc": 20, "image_size": (32, 32)}


def tiny_spec(spec: FeatureSpec) -> FeatureSpec:
    """``spec`` shrunk to a 1-s window with 32 mel bands (and 32x32 images)."""
    return spec.replace(**TINY)


@cache
def _prepared(paths: tuple[Path, ...], spec: FeatureSpec) -> np.ndarray:
    return prepare_batch([load(p, spec.sample_rate) for p in paths], spec)


def clip_audio(paths: Sequence[Path], spec: FeatureSpec) -> np.ndarray:
    """Prepared audio ``(len(paths), spec.n_samples)`` float32 of real clips (loaded and preprocessed once per
    session: only the preprocessing fields of ``spec`` key the cache)."""
    key = FeatureSpec(sample_rate=spec.sample_rate, duration_s=spec.duration_s, trim_silence=spec.trim_silence,
                      trim_top_db=spec.trim_top_db, normalize_loudness=spec.normalize_loudness,
                      target_dbfs=spec.target_dbfs)
    return _prepared(tuple(paths), key)


def clip_features(paths: Sequence[Path], spec: FeatureSpec) -> np.ndarray:
    """Features ``(len(paths), *spec.shape)`` of real clips, as ``compute_batch`` gives them."""
    return features_from_prepared(clip_audio(paths, spec), spec)
