"""`serapp bench`: how fast and light the engine is on this machine, as figures (no pass/fail).

Measures, with the given model: features + inference per update (p95), updates per second and the engine's
CPU share in a real-time file-source run, audio-to-result latency (p95), whole-file analysis speed on a
10-minute file, cold start (process start to first live result) and resident memory. Beside them, how fast this
machine's one core is (:func:`reference_gflops`), so that figures from two machines can be told apart: the same
file's times scale with it.
"""

from __future__ import annotations

import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import soundfile as sf

from serapp.engine import audio
from serapp.engine.analysis import analyze_file, file_threads
from serapp.engine.analyzer import Analyzer
from serapp.engine.config import AnalyzerConfig
from serapp.engine.filesource import FileSource
from serapp.engine.model import OnnxModel, load_model
from serapp.engine.result import EmotionResult
from serapp.errors import SerappError
from serapp.paths import corpora_root

LONG_FILE_S = 600.0
COLD_STARTS = 3  # the median of this many spawns is reported: one spawn swings with the disk cache
_WARM_S = 2.0  # the real-time run's first seconds are left out of the steady-state figures
# The real-time run's length (s): a second holds a few updates at the default hop; an hour is plenty and keeps a
# typo (--seconds 1e9) from running for ever.
MIN_SECONDS, MAX_SECONDS = 1.0, 3600.0


# Figure key -> (words, comparison, bound, unit): the default model's runtime budget (issue 29, for a model with a
# pretrained encoder inside; the CNN it replaced was held to 10 ms, 10 % and 200x, which it still meets:
# `serapp bench --model assets/models/serapp-cnn.onnx`).
TARGETS: dict[str, tuple[str, str, float, str]] = {
    "compute_ms_p95": ("detector + features + inference per update, p95", "<=", 100.0, "ms"),
    "updates_per_s": ("live updates per second", ">=", 4.0, ""),
    "engine_cpu_pct": ("engine CPU, share of one core, real-time run", "<=", 35.0, "%"),
    "latency_ms_p95": ("audio arrival to result, p95", "", 0.0, "ms"),
    "file_speed_x_realtime": ("whole-file analysis of a 10-minute file (`serapp analyze`)", ">=", 40.0,
                              "x real time"),
    "cold_start_s": ("cold start, process start to first live result", "<=", 3.0, "s"),
    "model_mb": ("model file", "<=", 40.0, "MB"),
    "rss_mb": ("resident memory", "", 0.0, "MB"),
    # an adaptable model (decision 0018): a window's inference adapting to the speaker against not adapting
    "adapting_cost_ratio": ("inference adapting to the speaker / not adapting (same windows)", "", 0.0, "x"),
}
ADAPT_RUNS = 20  # timed batches each way for adapting_cost_ratio (medians are compared)
# The reference product: (frames, width) @ (width, width) in float32, the shape of a Whisper tiny layer's
# projections on a 3-s window, timed REFERENCE_RUNS times.
REFERENCE_SHAPE, REFERENCE_RUNS = (300, 384), 50


def reference_gflops(runs: int = REFERENCE_RUNS) -> float:
    """This machine's single-thread float32 matrix-product speed in GFLOP/s: the median of ``runs`` products of
    :data:`REFERENCE_SHAPE` with numpy (its BLAS on one thread, as :mod:`serapp` sets it unless the user chose
    otherwise): the yardstick beside the timed figures. Two machines of the same kind here gave the same file
    times several times apart; records that carry this say which machine was the slower."""
    frames, width = REFERENCE_SHAPE
    rng = np.random.default_rng(0)
    x = rng.standard_normal((frames, width)).astype(np.float32)
    w = rng.standard_normal((width, width)).astype(np.float32)
    times = []
    for _ in range(runs + 5):  # the first few warm the caches
        t0 = time.perf_counter()
        x @ w
        times.append(time.perf_counter() - t0)
    return round(2.0 * frames * width * width / float(np.median(times[5:])) / 1e9, 2)


def markdown(figures: dict[str, Any]) -> str:
    """The figures of :func:`run_benchmark` as a Markdown table beside their :data:`TARGETS`."""
    speed = figures.get("reference_gflops")
    core = "" if speed is None else f", one core {speed:g} GFLOP/s on a float32 matrix product"
    lines = [f"`serapp bench` on {figures.get('model', '?')} ({figures.get('cpu_count', '?')} CPUs{core}, load "
             f"average {figures.get('load_avg_1m', '?')} at the start)", "",
             "| figure | measured | target | |", "|---|---:|---:|---|"]
    for key, (words, op, bound, unit) in TARGETS.items():
        value = figures.get(key)
        shown = "n/a" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{value:g}"
        target = f"{op} {bound:g} {unit}".strip() if op else unit
        met = "" if not op or shown == "n/a" else ("met" if (value <= bound if op == "<=" else value >= bound)
                                                   else "**missed**")
        lines.append(f"| {words} | {shown} | {target} | {met} |")
    return "\n".join(lines) + "\n"


def check_seconds(seconds: float) -> float:
    """``seconds`` when it is a usable real-time run length; a :class:`SerappError` otherwise (NaN included)."""
    if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and MIN_SECONDS <= seconds <= MAX_SECONDS):
        raise SerappError(f"--seconds must be a number of seconds in {MIN_SECONDS:g}-{MAX_SECONDS:g}, got {seconds}.")
    return float(seconds)


def _speech_material(sr: int, seconds: float) -> np.ndarray:
    """``seconds`` of audio at ``sr`` Hz: corpus clips end to end when the corpora are present, else a
    synthetic voiced signal (harmonics with syllable-rate bursts) so the bench runs anywhere."""
    clips = sorted((corpora_root() / "ravdess").rglob("*.ogg"))[:40]
    if clips:
        parts = [audio.load(c, sr) for c in clips]
        y = np.concatenate(parts)
    else:
        t = np.arange(int(10 * sr)) / sr
        f0 = 140 + 30 * np.sin(2 * np.pi * 0.5 * t)
        voiced = sum(np.sin(2 * np.pi * k * np.cumsum(f0) / sr) / k for k in range(1, 8))
        y = (0.1 * voiced * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)
    return np.resize(y, int(seconds * sr)).astype(np.float32)


def _p95(values: list[float]) -> float:
    return round(float(np.percentile(values, 95)), 2) if values else float("nan")


def realtime_run(model: OnnxModel, path: Path, seconds: float) -> dict[str, float]:
    """A real-time file-source run: compute/latency p95, updates per second and CPU share at steady state."""
    arrivals: list[tuple[float, EmotionResult]] = []  # (monotonic arrival time, result)
    analyzer = Analyzer(FileSource(path, realtime=True), model, AnalyzerConfig(),
                        on_result=lambda r: arrivals.append((time.monotonic(), r)))
    proc = psutil.Process()
    analyzer.start()
    time.sleep(_WARM_S)
    cpu0, wall0, n0 = sum(proc.cpu_times()[:2]), time.monotonic(), len(arrivals)
    time.sleep(seconds)
    cpu1, wall1, n1 = sum(proc.cpu_times()[:2]), time.monotonic(), len(arrivals)
    analyzer.stop()
    steady = [r for _, r in arrivals[n0:n1]]
    speech = [r for r in steady if r.is_speech]
    return {"compute_ms_p95": _p95([r.compute_ms for r in speech]),
            "compute_ms_median": round(float(np.median([r.compute_ms for r in speech])), 2) if speech else -1.0,
            # updates per second of audio between the first and the last steady-state result: the hop's rate
            # unless updates were skipped (wall-clock arrival times jitter by a block at either end, which read
            # 3.99 for an engine that skipped nothing); falling behind the clock shows in the latency instead
            "updates_per_s": (round((len(steady) - 1) / (steady[-1].t - steady[0].t), 2)
                              if len(steady) > 1 and steady[-1].t > steady[0].t else 0.0),
            "engine_cpu_pct": round(100.0 * (cpu1 - cpu0) / (wall1 - wall0), 1),
            "latency_ms_p95": _p95([r.latency_ms for r in steady]),
            "speech_updates": len(speech), "dropped_blocks": steady[-1].dropped_blocks if steady else 0,
            "rss_mb": round(proc.memory_info().rss / 2**20, 1)}


def adapting_cost(model: OnnxModel, clip: Path) -> float:
    """Median inference time of the clip's windows adapting to the speaker (the adapted head, a speaker mean
    given) over the median not adapting; NaN for a model that cannot adapt. One thread, the engine's session."""
    if not model.adaptable:
        return float("nan")
    from serapp.engine import audio, features

    x = features.compute_batch([audio.load(clip, model.info.spec.sample_rate)], model.info.spec)
    _, embedding = model.scores(x, embeddings=True)
    assert embedding is not None  # an adaptable model gives it
    mean = embedding.mean(axis=0)
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(ADAPT_RUNS):
        for adapting in (False, True):
            t0 = time.perf_counter()
            # as the engine scores: adapting also keeps the windows' embeddings for the running mean
            model.scores(x, mean if adapting else None, embeddings=adapting)
            times[adapting].append(time.perf_counter() - t0)
    return round(float(np.median(times[True]) / np.median(times[False])), 3)


def cold_start(model: OnnxModel, clip: Path) -> float:
    """Seconds from spawning `serapp listen --input CLIP` to its first result line: imports, model load, the
    analyzer worker's warm-up (before it reads the input) and the first hop. One spawn (see
    :data:`COLD_STARTS`)."""
    cmd = [sys.executable, "-m", "serapp", "listen", "--model", str(model.path), "--input", str(clip),
           "--max-results", "1"]
    start = time.monotonic()
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as p:
        line = p.stdout.readline() if p.stdout else ""
        elapsed = time.monotonic() - start
        p.wait(30)
    return round(elapsed, 2) if line.strip() else float("nan")


def run_benchmark(model_path: Path | None, seconds: float = 10.0, verbose: bool = True) -> dict[str, Any]:
    """All figures as a dict (the JSON line `serapp bench --json` prints)."""
    def say(text: str) -> None:
        if verbose:
            print(text, file=sys.stderr, flush=True)

    seconds = check_seconds(seconds)  # before anything slow happens
    model = load_model(model_path)
    sr = model.info.spec.sample_rate
    figures: dict[str, Any] = {"model": str(model.path), "feature_kind": model.info.spec.kind,
                               "model_mb": round(model.path.stat().st_size / 1e6, 1),
                               "cpu_count": psutil.cpu_count(), "load_avg_1m": round(psutil.getloadavg()[0], 2),
                               "reference_gflops": reference_gflops()}
    with tempfile.TemporaryDirectory(prefix="serapp-bench-") as tmp:
        long_file = Path(tmp) / "ten-minutes.flac"
        sf.write(long_file, _speech_material(sr, LONG_FILE_S), sr)
        clip = Path(tmp) / "clip.wav"
        sf.write(clip, _speech_material(sr, 5.0), sr)
        say(f"real-time run ({seconds:.0f} s of audio after {_WARM_S:.0f} s warm-up) ...")
        figures.update(realtime_run(model, long_file, seconds))
        threads = file_threads()
        say(f"whole-file analysis of a {LONG_FILE_S / 60:.0f}-minute file ({threads} threads, as `serapp analyze`) ...")
        batch_model = load_model(model_path, threads=threads)
        t0 = time.perf_counter()
        analysis = analyze_file(long_file, batch_model)
        figures["file_speed_x_realtime"] = round(LONG_FILE_S / (time.perf_counter() - t0), 1)
        figures["file_speech_ratio"] = analysis.summary.speech_ratio
        figures["file_threads"] = threads
        figures["adapting_cost_ratio"] = adapting_cost(model, clip)
        say(f"cold start (new process to first live result, median of {COLD_STARTS}) ...")
        figures["cold_start_s"] = float(np.median([cold_start(model, clip) for _ in range(COLD_STARTS)]))
    for key in ("reference_gflops", "compute_ms_p95", "updates_per_s", "engine_cpu_pct", "file_speed_x_realtime",
                "cold_start_s", "latency_ms_p95", "rss_mb", "adapting_cost_ratio"):
        say(f"  {key:<22} {figures[key]}")
    return figures
