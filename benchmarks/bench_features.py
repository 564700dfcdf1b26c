"""Feature speed: ms per 3-s window for each feature kind, and training-cache throughput (clips/s).

Per-window times: :func:`serapp.engine.features.compute` (preprocessing + features) on one real 3-s window,
one BLAS thread, ``--repeats`` timed calls after a warm-up; p50 and p95. Cache throughput: a fixed subset of
the shared corpora (every k-th clip of the sorted scan, ``--clips`` of them) extracted with a cold cache (a
fresh temporary folder, all cores) and then warm. Prints a markdown table; the last line is the results as JSON.

    python benchmarks/bench_features.py [--clips 600] [--repeats 50]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from serapp_train import cache
from serapp_train.corpora import scan
from threadpoolctl import threadpool_limits

from serapp.engine import audio, features
from serapp.engine.spec import FeatureSpec
from serapp.paths import corpora_root

KINDS: dict[str, FeatureSpec] = {
    "logmel": FeatureSpec(kind="logmel"),
    "logmel+deltas": FeatureSpec(kind="logmel", deltas=True),
    "logmel+pitch": FeatureSpec(kind="logmel", pitch=True),
    "mfcc": FeatureSpec(kind="mfcc"),
    "frames": FeatureSpec(kind="frames"),
    "stats": FeatureSpec(kind="stats"),
    "image": FeatureSpec(kind="image"),
}
WINDOW_CLIP = "crema-d/AudioWAV/1001_DFA_ANG_XX.ogg"


def window_times(y: np.ndarray, repeats: int) -> dict[str, dict[str, float]]:
    """p50/p95 ms of features.compute on ``y`` for each kind, one BLAS thread."""
    out = {}
    with threadpool_limits(limits=1):
        for name, spec in KINDS.items():
            features.compute(y, spec)  # warm-up: filter banks, lazy imports
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                features.compute(y, spec)
                times.append((time.perf_counter() - start) * 1000.0)
            out[name] = {"p50_ms": float(np.percentile(times, 50)), "p95_ms": float(np.percentile(times, 95))}
    return out


def cache_throughput(n_clips: int) -> dict[str, float | int]:
    """Clips/s extracting default log-mel features for a fixed subset, cold then warm."""
    clips = scan(corpora_root())
    subset = clips[:: max(1, len(clips) // n_clips)][:n_clips]
    spec = FeatureSpec()
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        cold = cache.features(subset, spec, cache=Path(folder), progress=False)
        cold_s = time.perf_counter() - start
        start = time.perf_counter()
        cache.features(subset, spec, cache=Path(folder), progress=False)
        warm_s = time.perf_counter() - start
    return {"clips": len(subset), "kept": int(cold.kept.sum()), "workers": os.cpu_count() or 1,
            "cold_clips_per_s": len(subset) / cold_s, "warm_clips_per_s": len(subset) / warm_s,
            "cold_s": cold_s, "warm_s": warm_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    y = audio.load(corpora_root() / WINDOW_CLIP, 16000)
    y = np.resize(y, 3 * 16000)  # exactly one 3-s window (the clip repeated if shorter)
    windows = window_times(y, args.repeats)
    throughput = cache_throughput(args.clips)
    print(f"Features per 3-s window, 1 BLAS thread, {args.repeats} calls ({platform.processor() or 'cpu'}):\n")
    print("| kind | p50 ms | p95 ms |\n| --- | ---: | ---: |")
    for name, t in windows.items():
        print(f"| {name} | {t['p50_ms']:.2f} | {t['p95_ms']:.2f} |")
    print(f"\nCache extraction, default log-mel, {throughput['clips']} clips (every k-th clip of the shared "
          f"corpora), {throughput['workers']} worker processes:\n")
    print("| cache | seconds | clips/s |\n| --- | ---: | ---: |")
    for state in ("cold", "warm"):
        print(f"| {state} | {throughput[f'{state}_s']:.2f} | {throughput[f'{state}_clips_per_s']:.1f} |")
    print(json.dumps({"window_ms": windows, "cache": throughput}))


if __name__ == "__main__":
    main()
