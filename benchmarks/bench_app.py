"""Cost of the whole app in live view: CPU share of one core, resident memory, time to first window, time to quit.

Starts ``serapp --input SPEECH.wav`` (the real entry point, :func:`serapp.ui.app.run_app`, in a child process with
its own empty settings folder) under Xvfb when ``xvfb-run`` is there, else Qt's offscreen platform. The input is
corpus speech joined end to end (:func:`benchmarks.long_run.write_speech`), played at real-time pace into the live
view. The parent measures from outside with psutil:

- time to first window: from the process's start to the main window's first paint (the child reports the moment);
- time to the live view running: to the first spectrogram frames drawn (model loaded, input open);
- CPU share: the process's user+system CPU time over ``--seconds`` of live view after a ``--warmup``, as a share of
  one core (all threads: GUI, engine worker, onnxruntime);
- RSS: the largest resident set size sampled every 0.5 s while measuring;
- time to quit: from the window being asked to close (the child reports the close event) to the process gone.

Writes the figures as a JSON record under ``runs/bench-app/`` and prints them as a Markdown table beside the targets
(issue 31 item 10); ``--markdown PATH`` also writes the table there (docs/benchmarks/app.md). ``--render RECORD``
prints the table of an earlier record.

    python benchmarks/bench_app.py [--seconds 30] [--warmup 5] [--markdown docs/benchmarks/app.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `benchmarks.long_run`

MB = 1024 * 1024
# figure -> (target, unit); a target of None: reported, no target. Every target is a most.
TARGETS: dict[str, tuple[float | None, str]] = {
    "cpu_percent": (25.0, "% of one core"),
    "gui_cpu_percent": (None, "% of one core"),
    "rss_mb": (None, "MB"),
    "first_window_s": (2.0, "s"),
    "live_s": (None, "s"),
    "quit_s": (1.0, "s"),
}
CAPTIONS = {"cpu_percent": "CPU share in live view", "gui_cpu_percent": "… of which the GUI thread (drawing)",
            "rss_mb": "Resident memory (peak)",
            "first_window_s": "Time to first window", "live_s": "Time to the live view running",
            "quit_s": "Time to quit"}

# The child: run_app under an application-wide event filter that reports the first paint and the close request
# of the main window on stdout, as CLOCK_MONOTONIC seconds (the same clock in both processes on Linux).
CHILD = r"""
import sys, time
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QMainWindow

class Watch(QObject):
    painted = False
    def eventFilter(self, obj, event):
        if isinstance(obj, QMainWindow):
            if event.type() == QEvent.Type.Paint and not self.painted:
                self.painted = True
                print("first-window", time.monotonic(), flush=True)
            elif event.type() == QEvent.Type.Close:
                print("close", time.monotonic(), flush=True)
        return False

app = QApplication(sys.argv[:1])
watch = Watch()
app.installEventFilter(watch)

from PySide6.QtCore import QTimer

def live():  # the first audio in the spectrogram: the model is loaded and the input runs
    for w in app.topLevelWidgets():
        if isinstance(w, QMainWindow) and w.live_view.spectrogram.columns_seen > 0:
            print("live", time.monotonic(), flush=True)
            return
    QTimer.singleShot(20, live)

QTimer.singleShot(0, live)
from serapp.cli import main
sys.exit(main(sys.argv[1:]))
"""


def speech_file(folder: Path, seconds: float) -> Path:
    """``seconds`` of corpus speech (16 kHz WAV) in ``folder``."""
    from benchmarks.long_run import write_speech

    path = folder / "speech.wav"
    write_speech(path, 16000, seconds)
    return path


def child_command(input_path: Path, model: str | None, xvfb: bool) -> list[str]:
    cmd = [sys.executable, "-c", CHILD, "--input", str(input_path)]
    if model:
        cmd += ["--model", model]
    if xvfb:
        cmd = ["xvfb-run", "-a", "-s", "-screen 0 1920x1080x24 -dpi 96", *cmd]
    return cmd


def app_process(proc: subprocess.Popen, xvfb: bool) -> Any:
    """The psutil process of the app itself (under xvfb-run it is a grandchild)."""
    import psutil

    parent = psutil.Process(proc.pid)
    if not xvfb:
        return parent
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        for p in parent.children(recursive=True):
            try:
                if p.name().startswith("python") or "python" in " ".join(p.cmdline()[:1]):
                    return p
            except psutil.Error:
                continue
        time.sleep(0.02)
    raise RuntimeError("the app's process did not start under xvfb-run")


_EVENTS: dict[str, float] = {}  # every event the child reported, whatever order they came in


def read_event(proc: subprocess.Popen, name: str, timeout_s: float) -> float:
    """The monotonic time the child printed for ``name`` (blocking up to ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    assert proc.stdout is not None
    while name not in _EVENTS and time.monotonic() < deadline:
        if not select.select([proc.stdout], [], [], 0.5)[0]:  # never blocks past the deadline
            continue
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                raise RuntimeError(f"the app exited (status {proc.returncode}) before {name!r}")
            continue
        parts = line.split()
        if len(parts) == 2:
            _EVENTS.setdefault(parts[0], float(parts[1]))
    if name not in _EVENTS:
        raise RuntimeError(f"no {name!r} from the app within {timeout_s:g} s")
    return _EVENTS[name]


def gui_seconds(app: Any) -> float:
    """CPU seconds (user + system) of the app's main thread, the one Qt draws on (its id is the process id)."""
    main = next(t for t in app.threads() if t.id == app.pid)
    return main.user_time + main.system_time


def measure(seconds: float, warmup: float, model: str | None, xvfb: bool) -> dict[str, Any]:
    """One run of the app; the figures named in :data:`TARGETS` and how they were taken."""
    import psutil

    with tempfile.TemporaryDirectory(prefix="serapp-bench-app-") as tmp:
        folder = Path(tmp)
        input_path = speech_file(folder, warmup + seconds + 30.0)
        env = dict(os.environ, XDG_CONFIG_HOME=str(folder / "config"), PYTHONUNBUFFERED="1")
        if not xvfb:
            env["QT_QPA_PLATFORM"] = "offscreen"
        load_before = os.getloadavg()
        started = time.monotonic()
        proc = subprocess.Popen(child_command(input_path, model, xvfb), env=env, cwd=ROOT, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            app = app_process(proc, xvfb)
            started = app.create_time() if xvfb else started
            shown = read_event(proc, "first-window", 60.0)
            # psutil's create_time is wall-clock: under xvfb-run convert it to the monotonic clock.
            start_mono = started - (time.time() - time.monotonic()) if xvfb else started
            first_window = shown - start_mono
            live = read_event(proc, "live", 60.0) - start_mono
            time.sleep(warmup)
            cpu0, gui0, t0 = app.cpu_times(), gui_seconds(app), time.monotonic()
            rss = []
            while time.monotonic() - t0 < seconds:
                rss.append(app.memory_info().rss / MB)
                time.sleep(0.5)
            cpu1, gui1, t1 = app.cpu_times(), gui_seconds(app), time.monotonic()
            busy = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
            app.send_signal(signal.SIGINT)  # run_app closes the window on Ctrl+C
            closing = read_event(proc, "close", 10.0)
            app.wait(30.0)
            gone = time.monotonic()
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10.0)
    return {
        "cpu_percent": 100.0 * busy / (t1 - t0),
        "gui_cpu_percent": 100.0 * (gui1 - gui0) / (t1 - t0),
        "rss_mb": max(rss),
        "first_window_s": first_window,
        "live_s": live,
        "quit_s": gone - closing,
        "setup": {"seconds": seconds, "warmup_s": warmup, "platform": "xvfb 1920x1080" if xvfb else "offscreen",
                  "model": model or "bundled", "cpus": psutil.cpu_count(), "load_before": load_before,
                  "load_after": os.getloadavg(), "python": platform.python_version(), "machine": platform.machine(),
                  "date": datetime.datetime.now().isoformat(timespec="seconds")},
    }


def markdown(record: dict[str, Any]) -> str:
    """The figures of ``record`` beside their targets, met or missed."""
    s = record["setup"]
    lines = ["| Figure | Measured | Target | Met |", "|---|---|---|---|"]
    for key, (target, unit) in TARGETS.items():
        value = record.get(key)
        shown = "n/a" if value is None else f"{value:.2f} {unit}" if unit == "s" else f"{value:.0f} {unit}"
        goal = "—" if target is None else f"≤ {target:g} {unit}"
        met = "—" if target is None or value is None else "yes" if value <= target else "**no**"
        lines.append(f"| {CAPTIONS[key]} | {shown} | {goal} | {met} |")
    load = ", ".join(f"{x:.1f}" for x in s["load_before"])
    lines += ["", f"`serapp --input` (corpus speech at real-time pace, live view) on {s['platform']}, model "
                  f"{s['model']}; CPU over {s['seconds']:g} s after a {s['warmup_s']:g}-s warm-up, share of one core "
                  f"for all the app's threads; {s['cpus']} CPUs, load average before {load}; {s['date']}. "
                  "Generated by `python benchmarks/bench_app.py`."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="live view measured (default 30)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds after the first window (default 5)")
    parser.add_argument("--model", help="ONNX model (default: the bundled one)")
    parser.add_argument("--offscreen", action="store_true", help="Qt's offscreen platform even with xvfb-run")
    parser.add_argument("--markdown", type=Path, help="also write the table here (e.g. docs/benchmarks/app.md)")
    parser.add_argument("--render", type=Path, help="print the table of this record instead of measuring")
    args = parser.parse_args(argv)
    if args.render:
        record = json.loads(args.render.read_text(encoding="utf-8"))
    else:
        if not (args.seconds > 0 and args.warmup >= 0):
            parser.error("--seconds must be positive and --warmup not negative")
        xvfb = not args.offscreen and shutil.which("xvfb-run") is not None
        record = measure(args.seconds, args.warmup, args.model, xvfb)
        out = ROOT / "runs" / "bench-app" / f"{datetime.datetime.now():%Y%m%d-%H%M%S}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        print(f"record: {out.relative_to(ROOT)}", file=sys.stderr)
    table = markdown(record)
    if args.markdown:
        from serapp import atomic

        atomic.write_bytes(args.markdown, ("# The app's cost in live view\n\n" + table).encode("utf-8"))
    print(table, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
