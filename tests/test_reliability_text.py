"""Text from outside reaching a spreadsheet or a terminal (issue 32): file names and model labels that start like
a formula, hold control characters (ESC, CR) or bytes that are not UTF-8; and `serapp bench` arguments.

Generated: any text through the sanitisers (serapp/textsafe.py); a model whose labels are each a different attack,
and files named like formulas, through `serapp analyze` (plain, --csv), `serapp listen` and the window's exports;
any float as `bench --seconds`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import serapp.bench
from serapp.bench import MAX_SECONDS, MIN_SECONDS, check_seconds
from serapp.cli import build_parser, check_limits, main
from serapp.engine import serialize
from serapp.engine.analysis import analyze_file
from serapp.engine.config import AnalyzerConfig
from serapp.engine.model import load_model
from serapp.engine.spec import FeatureSpec
from serapp.errors import SerappError
from serapp.textsafe import FORMULA_STARTS, csv_cell, encodable, terminal_text
from tests.onnx_models import save_model

# One attack per label: formulas of each starting character, terminal escapes, a carriage return that hides
# what came before it on the line, and a bell.
HOSTILE_LABELS = ("=HYPERLINK(\"http://x\",\"angry\")", "+1+1", "-2+3", "@SUM(A1)", "\tcalm", "\x1b[2Jsad",
                  "happy\rneutral\x07")
HOSTILE_NAMES = ("=cmd|' -c calc'!A1.wav", "+x.wav", "-y.wav", "@z.wav", "\x1b]0;owned\x07.wav", "ok\rfake.wav")
CONFIG = AnalyzerConfig(hop_s=1.0)


def _no_controls(text: str) -> bool:
    return not any(unicodedata.category(c) == "Cc" for c in text.replace("\n", ""))


# ------------------------------------------------------------------------------------------- sanitisers
@given(st.text() | st.binary().map(lambda b: b.decode("utf-8", "surrogateescape")))
@settings(max_examples=500, derandomize=True)
def test_csv_cell_never_starts_like_a_formula_nor_breaks_a_row(value: str) -> None:
    cell = csv_cell(value)
    assert not cell.startswith(FORMULA_STARTS) and _no_controls(cell) and "\n" not in cell
    cell.encode("utf-8")
    if _no_controls(value) and "\n" not in value and not any(0x80 <= ord(c) <= 0x9F or 0xD800 <= ord(c) <= 0xDFFF
                                                             for c in value):
        assert cell == (("'" + value) if value.startswith(FORMULA_STARTS) else value)


@given(st.text(st.characters(codec=None)) | st.binary().map(lambda b: b.decode("utf-8", "surrogateescape")))
@settings(max_examples=500, derandomize=True)
def test_terminal_text_is_printable_utf8_and_keeps_printable_text(value: str) -> None:
    shown = terminal_text(value)
    shown.encode("utf-8")
    assert not any(unicodedata.category(c) in ("Cc", "Cs") for c in shown), repr(shown)
    if all(unicodedata.category(c) not in ("Cc", "Cs") and not 0x80 <= ord(c) <= 0x9F for c in value):
        assert shown == value
    encodable(value).encode("utf-8")


# ------------------------------------------------------------------------------------------- through serapp
@pytest.fixture(scope="module")
def hostile_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_model(tmp_path_factory.mktemp("hostile") / "labels.onnx", FeatureSpec(), HOSTILE_LABELS)


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory: pytest.TempPathFactory, sample_clips: list[Path]) -> list[Path]:
    folder = tmp_path_factory.mktemp("names")
    paths = []
    for i, name in enumerate(HOSTILE_NAMES):
        path = folder / name
        path.write_bytes(sample_clips[i].read_bytes())
        paths.append(path)
    return paths


def test_plain_analyze_output_shows_control_characters_instead_of_obeying_them(
        hostile_model: Path, hostile_files: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "--model", str(hostile_model), *map(str, hostile_files)]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == len(hostile_files) and _no_controls(out), repr(out)
    assert "\\x1b]0;owned\\x07.wav" in out and "ok\\x0dfake.wav" in out


def test_listen_lines_show_hostile_labels_escaped(hostile_model: Path, sample_clips: list[Path]) -> None:
    proc = subprocess.run([sys.executable, "-m", "serapp", "listen", "--model", str(hostile_model), "--input",
                           str(sample_clips[0]), "--max-results", "12"], capture_output=True, timeout=120)
    out = proc.stdout.decode("utf-8")
    assert proc.returncode == 0 and out.count("\n") == 12 and _no_controls(out), repr(out)


def _cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _text_cells_are_safe(rows: list[list[str]], text_columns: set[int]) -> None:
    for row in rows:
        for i, cell in enumerate(row):
            if i in text_columns or not _is_number(cell):
                assert not cell.startswith(FORMULA_STARTS), (i, cell, row)


def _is_number(cell: str) -> bool:
    try:
        return math.isfinite(float(cell))
    except ValueError:
        return cell == ""


def test_the_summary_table_export_neutralises_formulas(hostile_model: Path, hostile_files: list[Path]) -> None:
    model = load_model(hostile_model)
    analyses = [analyze_file(p, model, CONFIG) for p in hostile_files]
    rows = _cells(serialize.summaries_csv(analyses))
    assert len(rows) == 1 + len(hostile_files)
    _text_cells_are_safe(rows, {0, 2})
    assert rows[1][0] == "'=cmd|' -c calc'!A1.wav"  # shown to the person as it is, but as text


def test_the_timeline_csv_neutralises_formulas(hostile_model: Path, hostile_files: list[Path],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    model = load_model(hostile_model)
    _text_cells_are_safe(_cells(serialize.analysis_csv(analyze_file(hostile_files[0], model, CONFIG))), {0, 2})
    assert main(["analyze", "--csv", "--model", str(hostile_model), *map(str, hostile_files)]) == 0
    _text_cells_are_safe(_cells(capsys.readouterr().out), {0, 2})


def test_exports_of_a_file_named_with_invalid_utf8_can_be_encoded(onnx_model_path: Path, sample_clips: list[Path],
                                                                  tmp_path: Path) -> None:
    raw = os.path.join(os.fsencode(tmp_path), b"caf\xe9-\xff.ogg")
    with open(raw, "wb") as f:
        f.write(sample_clips[0].read_bytes())
    analysis = analyze_file(os.fsdecode(raw), load_model(onnx_model_path), CONFIG)
    for text in (serialize.analysis_csv(analysis), serialize.summaries_csv([analysis])):
        assert "caf\\xe9-\\xff.ogg" in text.encode("utf-8").decode("utf-8")  # the window encodes exports as UTF-8
    json_text = serialize.analysis_json(analysis)
    assert json.loads(json_text.encode("utf-8"))["file"] == os.fsdecode(raw)  # escaped, so it round-trips


# ------------------------------------------------------------------------------------------- bench arguments
@given(st.floats(allow_nan=True, allow_infinity=True) | st.integers(-10**6, 10**6))
@settings(max_examples=300, derandomize=True)
def test_any_bench_seconds_is_accepted_in_range_or_refused_plainly(value: float) -> None:
    ok = math.isfinite(value) and MIN_SECONDS <= value <= MAX_SECONDS
    if ok:
        assert check_seconds(value) == float(value)
    else:
        with pytest.raises(SerappError, match="--seconds must be"):
            check_seconds(value)


@pytest.mark.parametrize("value", ["-1", "nan", "0", "inf", "-inf", "1e9", "0.5"])
def test_bench_with_bad_seconds_is_one_line_before_any_work(value: str, capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serapp.bench, "load_model", lambda *_: pytest.fail("the model was loaded"))
    assert main(["bench", "--json", f"--seconds={value}"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("serapp: --seconds must be") and err.count("\n") == 1, err


def test_bench_json_has_null_where_a_figure_could_not_be_measured(capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    figures = {"compute_ms_p95": float("nan"), "cold_start_s": float("inf"), "rss_mb": 80.5,
               "per_run": [1.0, float("nan")]}
    monkeypatch.setattr(serapp.bench, "run_benchmark", lambda *_, **__: figures)
    assert main(["bench", "--json"]) == 0

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} is not JSON")

    data = json.loads(capsys.readouterr().out, parse_constant=refuse)
    assert data == {"compute_ms_p95": None, "cold_start_s": None, "rss_mb": 80.5, "per_run": [1.0, None]}
    assert np.isnan(figures["compute_ms_p95"])  # the figures themselves are not changed


# ------------------------------------------------------------------------------------------- listen arguments
@given(seconds=st.none() | st.floats(allow_nan=True, allow_infinity=True), results=st.none() | st.integers(-10, 3))
@settings(max_examples=150, deadline=None, derandomize=True)
def test_listen_stop_conditions_that_make_no_sense_are_refused_before_any_work(seconds: float | None,
                                                                               results: int | None) -> None:
    """Generated: any --seconds and --max-results. Nonsense (negative, zero, NaN, infinite seconds; fewer than
    one result) is one plain line before a device or model is touched; sense passes the check."""
    argv = ["listen", "--input", "/nonexistent/never-opened.wav"]
    argv += [f"--seconds={seconds!r}"] if seconds is not None else []
    argv += [f"--max-results={results}"] if results is not None else []
    args = build_parser().parse_args(argv)
    bad_seconds = seconds is not None and not (math.isfinite(seconds) and seconds > 0)
    bad_results = results is not None and results < 1
    if bad_seconds or bad_results:
        with pytest.raises(SerappError, match=r"--seconds must be|--max-results must be"):
            check_limits(args)
    else:
        assert check_limits(args) is args


@pytest.mark.parametrize("option", ["--seconds=-1", "--seconds=nan", "--seconds=0", "--max-results=0",
                                    "--max-results=-5"])
def test_listen_with_a_nonsense_limit_exits_2_with_one_line(option: str, sample_clips: list[Path],
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["listen", "--input", str(sample_clips[0]), option]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "must be" in err, err
