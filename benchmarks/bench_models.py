"""Engine figures of several models side by side: `serapp bench` for each, alternating, on a quiet machine.

One model's figures swing with what else the machine does (whole-file speed read 254-408x for the same file
across sessions), so models are compared in alternation: each round runs ``serapp bench --json --model M``
once per model, each in a fresh process, after waiting until the 1-minute load average is below
``--max-load``. Prints the median of each figure per model, its range, and its ratio to the first model's
median; the last line is the results as JSON.

    python benchmarks/bench_models.py assets/models/serapp-default.onnx other.onnx [--rounds 3] [--max-load 0.6]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

FIGURES: dict[str, str] = {  # serapp bench's JSON key -> what the table calls it
    "file_speed_x_realtime": "whole-file speed (x real time)",
    "compute_ms_p95": "features + inference p95 (ms)",
    "updates_per_s": "updates per s",
    "engine_cpu_pct": "engine CPU (% of a core)",
    "latency_ms_p95": "audio to result p95 (ms)",
    "cold_start_s": "cold start (s)",
    "rss_mb": "resident memory (MB)",
}


def wait_for_quiet(max_load: float, timeout_s: float) -> float:
    """Sleep until the 1-minute load average is below ``max_load`` (or ``timeout_s`` passes); returns it."""
    deadline = time.monotonic() + timeout_s
    load = os.getloadavg()[0]
    while load >= max_load and time.monotonic() < deadline:
        time.sleep(5.0)
        load = os.getloadavg()[0]
    return load


def bench_once(model: Path) -> dict[str, float]:
    """One ``serapp bench --json`` run of ``model`` in a fresh process: its figures."""
    out = subprocess.run([sys.executable, "-m", "serapp", "bench", "--json", "--model", str(model)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def summarise(runs: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, dict[str, float]]]:
    """Per model and figure: median, min, max, and the median's ratio to the first model's median."""
    first = next(iter(runs))
    medians = {m: {k: float(np.median([r[k] for r in rs])) for k in FIGURES} for m, rs in runs.items()}
    return {m: {k: {"median": medians[m][k], "min": min(r[k] for r in rs), "max": max(r[k] for r in rs),
                    "ratio": medians[m][k] / medians[first][k] if medians[first][k] else float("nan")}
                for k in FIGURES}
            for m, rs in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path, help="ONNX model files; ratios are to the first")
    parser.add_argument("--rounds", type=int, default=3, help="runs per model, alternating (3)")
    parser.add_argument("--max-load", type=float, default=0.6, help="1-minute load average to wait for (0.6)")
    parser.add_argument("--wait", type=float, default=300.0, help="longest wait for a quiet machine, s (300)")
    args = parser.parse_args()
    missing = [str(m) for m in args.models if not m.is_file()]
    if missing or args.rounds < 1:
        parser.error(f"no such model file: {', '.join(missing)}" if missing else "--rounds must be at least 1")

    runs: dict[str, list[dict[str, float]]] = {str(m): [] for m in args.models}
    loads: list[float] = []
    for r in range(args.rounds):
        for m in args.models:
            loads.append(wait_for_quiet(args.max_load, args.wait))
            runs[str(m)].append(bench_once(m))
            print(f"round {r + 1}, {m.name}: load {loads[-1]:.2f} at start, "
                  f"whole-file {runs[str(m)][-1]['file_speed_x_realtime']:.0f}x", file=sys.stderr)
    summary = summarise(runs)
    names = [m.name for m in args.models]
    labels = names if len(set(names)) == len(names) else [str(m) for m in args.models]  # paths where names clash
    print(f"| figure | {' | '.join(labels)} |")
    print(f"|---|{'---:|' * len(runs)}")
    for key, name in FIGURES.items():
        cells = [f"{s[key]['median']:.3g} ({s[key]['min']:.3g}-{s[key]['max']:.3g}; x{s[key]['ratio']:.2f})"
                 for s in summary.values()]
        print(f"| {name} | {' | '.join(cells)} |")
    print(f"load average at each start: {', '.join(f'{v:.2f}' for v in loads)}")
    print(json.dumps({"rounds": args.rounds, "loads": loads, "summary": summary, "runs": runs}))


if __name__ == "__main__":
    main()
