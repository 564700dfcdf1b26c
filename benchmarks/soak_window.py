"""Window soak: the real main window, offscreen, fed by a looping corpus recording at real-time pace.

Opens :class:`~serapp.ui.mainwindow.MainWindow` (``QT_QPA_PLATFORM=offscreen`` unless a platform is set), starts
its live session on a file source that loops corpus clips joined end to end (RAVDESS, found through
``serapp.paths.corpora_root()``), and lets it run ``--minutes`` (default 10) through the Qt event loop. Every
10 s it samples resident memory (RSS), threads, open file descriptors, spectrogram frames drawn per second
(images rendered into the view, and paint events of its viewport), results shown, and the dropped audio
blocks and results as the status bar shows them. Targets (issue "window soak"): RSS growth < 10 MB after a
30-s warm-up, no growth in threads or descriptors, every dropped block counted and shown.

Prints a table while it runs; the last line is the figures as JSON.

    python benchmarks/soak_window.py [--minutes 10] [--model PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `benchmarks.long_run`, `tests.onnx_models`

import psutil
from PySide6.QtCore import QEvent, QObject, QSettings, QTimer
from PySide6.QtWidgets import QApplication

from benchmarks.long_run import RSS_TARGET_MB, snapshot, stand_in_model, write_speech
from serapp.errors import SerappError
from serapp.paths import corpora_root, default_model_path
from serapp.ui.app import check_qt_binding
from serapp.ui.engine_bridge import LiveStats, SourceChoice
from serapp.ui.mainwindow import LaunchOptions, MainWindow
from serapp.ui.playback import Player

SAMPLE_S = 10.0
WARM_UP_S = 30.0
LOOP_S = 120.0  # distinct speech in the looped file: corpus clips end to end


class PaintCounter(QObject):
    """Counts the paint events a widget receives (installed as its event filter)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.count += 1
        return False


@dataclass
class Soak:
    """The running soak: the window, what it counted at the last sample, and the sampled rows."""

    window: MainWindow
    paints: PaintCounter
    started: float = field(default_factory=time.monotonic)
    stats: LiveStats | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)
    _last: tuple[float, int, int] = (0.0, 0, 0)

    def __post_init__(self) -> None:
        self._last = (self.started, 0, 0)

    def on_stats(self, stats: LiveStats) -> None:
        self.stats = stats

    def sample(self) -> dict[str, Any]:
        """One row: elapsed s, RSS MB, threads, fds, frames/s and paints/s since the last row, counts so far."""
        now = time.monotonic()
        frames, paints = self.window.live_view.spectrogram.frames_drawn, self.paints.count
        t0, frames0, paints0 = self._last
        self._last = (now, frames, paints)
        session = self.window.session
        analyzer = session.analyzer if session is not None else None
        engine = analyzer.stats() if analyzer is not None else None
        stats = self.stats
        shown = self.window.status_labels["dropped"].text()
        row = {**snapshot(), "t_s": round(now - self.started, 1), "fps": round((frames - frames0) / (now - t0), 1),
               "paints_per_s": round((paints - paints0) / (now - t0), 1),
               "results": self.window.live_view.results_seen,
               "dropped_blocks": stats.dropped_blocks if stats else 0,
               "dropped_results": stats.dropped_results if stats else 0,
               "lost_samples": engine.lost_samples if engine else 0,
               "skipped_updates": engine.skipped_updates if engine else 0,
               "state": session.state if session is not None else "none",
               "shown": shown}
        row["rss_mb"] = round(row["rss_mb"], 1)
        self.rows.append(row)
        print(f"{row['t_s']:>7.0f} {row['rss_mb']:>8.1f} {row['threads']:>7} {row['fds']:>5} {row['fps']:>6.1f} "
              f"{row['paints_per_s']:>7.1f} {row['results']:>8} {row['dropped_blocks']:>7} "
              f"{row['dropped_results']:>8} {row['skipped_updates']:>7}  {row['state']:<8} {shown}", flush=True)
        return row


def speech_file(folder: Path, sr: int) -> Path:
    """A FLAC of ``LOOP_S`` s of corpus speech at ``sr`` Hz (RAVDESS clips end to end)."""
    if not any((corpora_root() / "ravdess").rglob("*.ogg")):
        raise SerappError(f"No RAVDESS clips under {corpora_root() / 'ravdess'}. Set SERAPP_CORPORA to the "
                          "corpora folder.")
    path = folder / "speech.flac"
    write_speech(path, sr, LOOP_S)
    return path


def summarize(rows: list[dict[str, Any]], closed: dict[str, float]) -> dict[str, Any]:
    """The JSON figures: growth measured from the first row after the warm-up to the last row."""
    steady = [r for r in rows if r["t_s"] >= WARM_UP_S] or rows
    base, end = steady[0], rows[-1]
    dropped_shown = end["shown"] == f"dropped blocks {end['dropped_blocks']}"
    return {"rss_warm_mb": base["rss_mb"], "rss_end_mb": end["rss_mb"],
            "rss_growth_mb": round(end["rss_mb"] - base["rss_mb"], 1),
            "rss_max_mb": max(r["rss_mb"] for r in steady),
            "threads_before": base["threads"], "threads_after": end["threads"],
            "fds_before": base["fds"], "fds_after": end["fds"],
            "threads_after_close": closed["threads"], "fds_after_close": closed["fds"],
            "fps_median": statistics.median(r["fps"] for r in steady),
            "fps_min": min(r["fps"] for r in steady),
            "paints_per_s_median": statistics.median(r["paints_per_s"] for r in steady),
            "results": end["results"], "dropped_blocks": end["dropped_blocks"],
            "dropped_results": end["dropped_results"], "lost_samples": end["lost_samples"],
            "skipped_updates": end["skipped_updates"], "dropped_shown": dropped_shown,
            "state_end": end["state"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the run (default 10)")
    parser.add_argument("--model", type=Path, help="ONNX model (default: the bundled one, else the test model)")
    args = parser.parse_args(argv)
    if args.minutes * 60 <= WARM_UP_S + SAMPLE_S:
        print(f"soak_window: --minutes must exceed {(WARM_UP_S + SAMPLE_S) / 60:g}.", file=sys.stderr)
        return 2
    check_qt_binding()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory(prefix="serapp-soak-") as tmp:
        folder = Path(tmp)
        if args.model:
            model_path, model_kind = args.model, "given"
        elif default_model_path().exists():
            model_path, model_kind = default_model_path(), "bundled"
        else:
            model_path, model_kind = stand_in_model(folder), "test model (tests/onnx_models.py)"
        print(f"model: {model_path} ({model_kind})", flush=True)
        try:
            clip = speech_file(folder, 16000)
        except SerappError as exc:
            print(f"soak_window: {exc}", file=sys.stderr)
            return 2
        store = QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(LaunchOptions(model=str(model_path), input=str(clip)), store,
                            player=Player(with_sound=False))
        if window.session is None:
            print(f"soak_window: the window has no live session: {window.banner_text}", file=sys.stderr)
            return 2
        window.show()
        paints = PaintCounter()
        window.live_view.spectrogram.plot.viewport().installEventFilter(paints)
        soak = Soak(window, paints)
        window.session.stats_ready.connect(soak.on_stats)
        window.session.start(SourceChoice(path=str(clip), loop=True))  # the file restarts at its end
        print(f"{'t_s':>7} {'rss_mb':>8} {'threads':>7} {'fds':>5} {'fps':>6} {'paints':>7} {'results':>8} "
              f"{'dropped':>7} {'dropres':>8} {'skipped':>7}  {'state':<8} status bar", flush=True)
        sampler = QTimer()
        sampler.timeout.connect(soak.sample)
        sampler.start(int(SAMPLE_S * 1000))
        QTimer.singleShot(int(args.minutes * 60 * 1000) + 500, app.quit)
        app.exec()
        sampler.stop()
        window.close()
        window.deleteLater()
        app.processEvents()
        time.sleep(0.5)  # joined threads may still be exiting
        closed = snapshot()
    figures = summarize(soak.rows, closed)
    ok = (figures["rss_growth_mb"] < RSS_TARGET_MB and figures["threads_after"] <= figures["threads_before"]
          and figures["fds_after"] <= figures["fds_before"] and figures["dropped_shown"]
          and figures["state_end"] == "running")
    print(f"\nwithin targets (RSS growth < {RSS_TARGET_MB:g} MB after {WARM_UP_S:.0f} s, no thread/fd growth, "
          f"dropped blocks shown, still running): {ok}")
    print(json.dumps({"minutes": args.minutes, "model": Path(model_path).name, "model_kind": model_kind,
                      "input": f"{LOOP_S:.0f} s of RAVDESS clips, looped", "machine": platform.machine(),
                      "cpu_count": psutil.cpu_count(), "load_avg_1m": round(psutil.getloadavg()[0], 2),
                      **figures, "within_targets": ok}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
