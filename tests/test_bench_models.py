"""The side-by-side model benchmark's arithmetic (the bench runs themselves are measurements, not tests)."""

from __future__ import annotations

import pytest

from benchmarks.bench_models import FIGURES, summarise


def _run(speed: float, **others: float) -> dict[str, float]:
    return {key: others.get(key, 1.0) for key in FIGURES} | {"file_speed_x_realtime": speed}


def test_summary_gives_medians_ranges_and_ratios_to_the_first_model() -> None:
    runs = {"a.onnx": [_run(300.0), _run(400.0), _run(340.0)],
            "b.onnx": [_run(150.0), _run(210.0), _run(170.0, cold_start_s=2.0)]}
    s = summarise(runs)
    assert s["a.onnx"]["file_speed_x_realtime"] == {"median": 340.0, "min": 300.0, "max": 400.0, "ratio": 1.0}
    assert s["b.onnx"]["file_speed_x_realtime"]["median"] == 170.0
    assert s["b.onnx"]["file_speed_x_realtime"]["ratio"] == pytest.approx(0.5)
    assert s["b.onnx"]["cold_start_s"]["max"] == 2.0
    assert set(s["b.onnx"]) == set(FIGURES)
