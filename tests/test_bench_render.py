"""`serapp bench --markdown`: the figures beside their targets, met or missed, unmeasured ones as n/a."""

from __future__ import annotations

from serapp.bench import TARGETS, markdown, reference_gflops


def test_markdown_marks_each_target_met_or_missed() -> None:
    figures = {"model": "m.onnx", "cpu_count": 2, "load_avg_1m": 0.5, "compute_ms_p95": 125.0, "updates_per_s": 4.0,
               "engine_cpu_pct": float("nan"), "file_speed_x_realtime": 250.0, "model_mb": 8.3, "cold_start_s": None,
               "latency_ms_p95": 4.0, "rss_mb": 280.0}
    rows = {line.split(" | ")[0].lstrip("| "): line for line in markdown(figures).splitlines() if line.startswith("| ")}
    assert "| 125 | <= 100 ms | **missed** |" in rows[TARGETS["compute_ms_p95"][0]]
    assert "| 4 | >= 4 | met |" in rows[TARGETS["updates_per_s"][0]]
    assert "| 250 | >= 40 x real time | met |" in rows[TARGETS["file_speed_x_realtime"][0]]
    assert "| 8.3 | <= 40 MB | met |" in rows[TARGETS["model_mb"][0]]
    assert "| n/a |" in rows[TARGETS["engine_cpu_pct"][0]] and "| n/a |" in rows[TARGETS["cold_start_s"][0]]
    assert rows[TARGETS["rss_mb"][0]].endswith("| 280 | MB |  |")  # no target: neither met nor missed


def test_the_heading_says_how_fast_the_machine_was_when_measured() -> None:
    """Timed figures from two machines differ by the machines' speed: the heading carries the yardstick."""
    figures = {"model": "m.onnx", "cpu_count": 2, "load_avg_1m": 0.5, "reference_gflops": 35.3}
    assert "one core 35.3 GFLOP/s on a float32 matrix product" in markdown(figures).splitlines()[0]
    assert "GFLOP/s" not in markdown({"model": "m.onnx"}).splitlines()[0]  # records from before it was measured


def test_the_reference_speed_is_a_positive_rate() -> None:
    speed = reference_gflops(runs=3)
    assert 0.1 < speed < 10_000  # GFLOP/s of one core: a slow laptop's to a fast server's
