"""Long runs: an hour of speech through the live engine and through whole-file analysis, memory and handles measured.

Writes ``--minutes`` of speech (RAVDESS clips end to end, looped; a synthetic voiced signal without the corpora)
to a temporary FLAC file block by block, then:

1. live: :class:`FileSource` (``realtime=False``) -> :class:`Analyzer`, results drained as a front end would;
2. file: :func:`analyze_file` on the same file (streamed from disk).

After a warm-up on a short file (lazy imports, first-call set-up), it records resident memory (RSS: baseline,
peak sampled every 0.2 s, end), threads and open file descriptors before and after each run, and the blocks,
samples and results dropped. Targets: RSS growth < 10 MB, no thread or descriptor growth, nothing dropped.
Prints a table; the last line is the figures as JSON.

    python benchmarks/long_run.py [--minutes 60] [--model PATH]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import soundfile as sf

from serapp.bench import _speech_material
from serapp.engine.analysis import analyze_file
from serapp.engine.analyzer import Analyzer
from serapp.engine.config import AnalyzerConfig
from serapp.engine.filesource import FileSource
from serapp.engine.model import OnnxModel, load_model
from serapp.engine.result import EmotionResult
from serapp.engine.state import RunState
from serapp.paths import default_model_path

MB = 2.0**20
_MATERIAL_S = 150.0  # distinct audio looped into the long file
RSS_TARGET_MB = 10.0


class PeakRss:
    """Samples this process's RSS every ``period_s`` on a thread while in a ``with`` block; ``peak`` in bytes."""

    def __init__(self, period_s: float = 0.2) -> None:
        self.period_s = period_s
        self.peak = 0
        self._proc = psutil.Process()
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._halt.wait(self.period_s):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self.peak = self._proc.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._halt.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)


def snapshot() -> dict[str, float]:
    """RSS (MB), threads and open file descriptors of this process now (the RSS sampler not running)."""
    proc = psutil.Process()
    return {"rss_mb": proc.memory_info().rss / MB, "threads": proc.num_threads(), "fds": proc.num_fds()}


def write_speech(path: Path, sr: int, seconds: float) -> None:
    """``seconds`` of speech at ``sr`` Hz to ``path``, written block by block (memory stays at one block)."""
    material = _speech_material(sr, min(seconds, _MATERIAL_S))
    with sf.SoundFile(str(path), "w", samplerate=sr, channels=1, subtype="PCM_16") as f:
        left = round(seconds * sr)
        while left > 0:
            f.write(material[:left])
            left -= min(left, material.size)


def live_run(model: OnnxModel, path: Path, config: AnalyzerConfig) -> dict[str, Any]:
    """The live engine over ``path`` as fast as possible; counts, speed and what was dropped."""
    last: list[EmotionResult] = []
    speech = [0]

    def on_result(r: EmotionResult) -> None:
        last[:] = [r]
        speech[0] += r.is_speech

    analyzer = Analyzer(FileSource(path, realtime=False), model, config, on_result=on_result)
    started = time.perf_counter()
    analyzer.start()
    while not analyzer.wait(0.05):
        analyzer.results.drain()  # as a front end's 50-ms timer does, off the bounded queue
    analyzer.results.drain()
    wall = time.perf_counter() - started
    stats = analyzer.stats()
    analyzer.stop()
    stream_s = last[0].t if last else 0.0
    return {"state": stats.state.value, "error": stats.error, "stream_s": round(stream_s, 1),
            "wall_s": round(wall, 1), "x_realtime": round(stream_s / wall, 1), "results": stats.results,
            "speech_results": speech[0], "dropped_blocks": last[0].dropped_blocks if last else -1,
            "lost_samples": stats.lost_samples, "dropped_results": stats.dropped_results}


def file_run(model: OnnxModel, path: Path, config: AnalyzerConfig) -> dict[str, Any]:
    """Whole-file analysis of ``path`` (streamed); windows and speed."""
    started = time.perf_counter()
    fa = analyze_file(path, model, config)
    wall = time.perf_counter() - started
    return {"state": RunState.FINISHED.value, "stream_s": fa.summary.duration_s, "wall_s": round(wall, 1),
            "x_realtime": round(fa.summary.duration_s / wall, 1), "results": fa.summary.windows,
            "speech_ratio": fa.summary.speech_ratio}


def measured(run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``run()``'s figures plus RSS (baseline, peak, end, growth in MB), threads and descriptors before/after."""
    before = snapshot()
    with PeakRss() as rss:
        figures = run()
    time.sleep(0.5)  # a joined thread's OS thread may still be exiting: count what is left, not what is leaving
    after = snapshot()
    return {**figures, "rss_start_mb": round(before["rss_mb"], 1), "rss_peak_mb": round(rss.peak / MB, 1),
            "rss_end_mb": round(after["rss_mb"], 1), "rss_growth_mb": round(after["rss_mb"] - before["rss_mb"], 1),
            "rss_peak_growth_mb": round(rss.peak / MB - before["rss_mb"], 1),
            "threads_before": before["threads"], "threads_after": after["threads"],
            "fds_before": before["fds"], "fds_after": after["fds"]}


def stand_in_model(folder: Path) -> Path:
    """Without a bundled model: the small test model (logmel, seven emotions) of tests/onnx_models.py."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from serapp.engine.spec import FeatureSpec
    from tests.onnx_models import save_model

    return save_model(folder / "stand-in.onnx", FeatureSpec())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="length of the long file (default 60)")
    parser.add_argument("--model", type=Path, help="ONNX model (default: the bundled one, else a stand-in)")
    args = parser.parse_args(argv)
    config = AnalyzerConfig()
    with tempfile.TemporaryDirectory(prefix="serapp-long-") as tmp:
        folder = Path(tmp)
        model_path = args.model or (default_model_path() if default_model_path().exists() else stand_in_model(folder))
        model = load_model(model_path)
        sr = model.info.spec.sample_rate
        long_file, short_file = folder / "long.flac", folder / "short.flac"
        print(f"writing {args.minutes:g} minutes of speech ...", file=sys.stderr, flush=True)
        write_speech(long_file, sr, args.minutes * 60)
        write_speech(short_file, sr, 20.0)
        live_run(model, short_file, config)  # warm-up: lazy imports, caches and first-call set-up
        file_run(model, short_file, config)
        print("live engine run ...", file=sys.stderr, flush=True)
        live = measured(lambda: live_run(model, long_file, config))
        print("whole-file analysis ...", file=sys.stderr, flush=True)
        whole = measured(lambda: file_run(model, long_file, config))
    rows = [k for k in live if k != "error"] + [k for k in whole if k not in live]
    print(f"\n{'figure':<20} {'live engine':>14} {'analyze_file':>14}")
    for key in rows:
        print(f"{key:<20} {live.get(key, ''):>14} {whole.get(key, ''):>14}")
    ok = (live["state"] == "finished" and max(live["rss_growth_mb"], whole["rss_peak_growth_mb"]) < RSS_TARGET_MB
          and live["threads_after"] <= live["threads_before"] and live["fds_after"] <= live["fds_before"]
          and live["dropped_blocks"] == 0 and live["lost_samples"] == 0)
    print(f"\nwithin targets (RSS growth < {RSS_TARGET_MB:g} MB, no thread/fd growth, nothing dropped): {ok}")
    print(json.dumps({"minutes": args.minutes, "model": Path(model_path).name, "machine": platform.machine(),
                      "cpu_count": psutil.cpu_count(), "load_avg_1m": round(psutil.getloadavg()[0], 2),
                      "live": live, "analyze_file": whole, "within_targets": ok}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
