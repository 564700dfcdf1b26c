"""Model faults at the command line: `serapp analyze --model BAD FILE` says what is wrong in one line on stderr,
prints no traceback and exits 2, for missing, damaged, metadata-less, inconsistent and misbehaving models.

Generated too: models whose outputs are not probabilities (any affine change of them, logits, integers), fixed
batch axes, specs needing gigabytes per window, byte flips anywhere in a model file, and non-finite or fractional
numbers in every numeric field of a feature spec (tests/lying_models.py)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from serapp.cli import main
from serapp.engine import audio, features
from serapp.engine.labels import EMOTIONS
from serapp.engine.model import MAX_WINDOW_BYTES, PROBABILITY_TOLERANCE, check_windows, load_model, window_bytes
from serapp.engine.modelmeta import ModelInfo
from serapp.engine.spec import FeatureSpec
from serapp.errors import SerappError
from tests.lying_models import (
    NOT_PROBABILITIES,
    custom_domain_model,
    fixed_batch_model,
    flip_bytes,
    future_opset_model,
    huge_spec_model,
    lying_model,
    scaled,
)
from tests.onnx_models import broken_models, build_model, save_model

SPEC = FeatureSpec()
META = ModelInfo(labels=EMOTIONS, spec=SPEC).to_metadata()

# metadata key -> (damaged value, what the message must say)
BAD_METADATA: dict[str, tuple[str, str, str]] = {
    "future_format": ("serapp.format", "2", "uses model format '2'"),
    "one_label": ("serapp.labels", json.dumps(["angry"]), "two or more distinct names"),
    "duplicate_labels": ("serapp.labels", json.dumps(["sad", "sad", *EMOTIONS[2:]]), "two or more distinct"),
    "labels_not_a_list": ("serapp.labels", json.dumps({"angry": 0}), "labels are not a list"),
    "zero_temperature": ("serapp.temperature", "0", "temperature must be within"),
    "temperature_not_a_number": ("serapp.temperature", "warm", "damaged metadata"),
    "spec_not_json": ("serapp.feature_spec", "{kind: logmel", "not valid JSON"),
    "spec_out_of_range": ("serapp.feature_spec", SPEC.to_json().replace('"n_mels":64', '"n_mels":-3'),
                          "Invalid feature spec"),
    "more_labels_than_outputs": ("serapp.labels", json.dumps([*EMOTIONS, "bored"]), "output shape"),
}


def nan_model(path: Path) -> Path:
    """A model whose graph gives NaN (log of a negative number) instead of probabilities."""
    model = build_model(SPEC)
    graph = model.graph
    graph.node.extend([helper.make_node("Neg", ["probs"], ["negative"]),
                       helper.make_node("Log", ["negative"], ["nan"])])
    del graph.output[:]
    graph.output.extend([helper.make_tensor_value_info("nan", TensorProto.FLOAT, ["batch", len(EMOTIONS)])])
    onnx.save_model(model, str(path))
    return path


# the broken files of tests/onnx_models.py -> what the message must say
BROKEN = {"missing": "no such model file", "no_metadata": "not a serapp model", "bad_json": "damaged metadata",
          "unknown_kind": "unknown feature kind", "wrong_input_shape": "input shape",
          "wrong_output_width": "output shape", "truncated": "not a readable ONNX model",
          "garbage": "not a readable ONNX model"}


def bad_models(folder: Path) -> dict[str, tuple[Path, str]]:
    """Every bad model file by case, with what its message must say."""
    built = broken_models(folder, SPEC)
    out = {name: (built[name], message) for name, message in BROKEN.items()}
    for name, (key, value, message) in BAD_METADATA.items():
        out[name] = (save_model(folder / f"{name}.onnx", SPEC, metadata=dict(META, **{key: value})), message)
    empty = folder / "empty.onnx"
    empty.write_bytes(b"")
    out["empty"] = (empty, "not a readable ONNX model")
    out["folder"] = (folder, "is a folder")
    out["nan_outputs"] = (nan_model(folder / "nan.onnx"), "invalid probabilities")
    return out


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    return bad_models(tmp_path_factory.mktemp("bad-models"))


@pytest.mark.parametrize("case", [*BROKEN, *BAD_METADATA, "empty", "folder", "nan_outputs"])
def test_analyze_with_a_bad_model_prints_one_plain_line(models: dict[str, tuple[Path, str]], case: str,
                                                        sample_clips: list[Path],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    path, message = models[case]
    code = main(["analyze", "--json", "--model", str(path), str(sample_clips[0])])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("serapp: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert message in err and str(path) in err, err


def test_a_bad_model_in_a_fresh_process_shows_no_traceback(models: dict[str, tuple[Path, str]],
                                                           sample_clips: list[Path]) -> None:
    path, message = models["truncated"]
    proc = subprocess.run([sys.executable, "-m", "serapp", "--model", str(path), "analyze", str(sample_clips[0])],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr


# ------------------------------------------------------------------------------------ models that load but lie
@pytest.mark.parametrize("case", sorted(NOT_PROBABILITIES))
def test_a_model_whose_outputs_are_not_probabilities_is_refused_at_load(tmp_path: Path, case: str) -> None:
    path = lying_model(tmp_path / f"{case}.onnx", NOT_PROBABILITIES[case])
    with pytest.raises(SerappError, match=r"not probabilities|invalid probabilities") as exc:
        load_model(path)
    assert str(path) in str(exc.value) and "\n" not in str(exc.value)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(factor=st.floats(-10, 10), offset=st.floats(-1, 1), seed=st.integers(0, 3))
def test_any_affine_change_of_the_probabilities_is_refused_unless_it_is_none(tmp_path: Path, factor: float,
                                                                              offset: float, seed: int) -> None:
    """Generated: a model outputs ``factor * p + offset``; it is served only when that is still a probability
    distribution (within the tolerance), and then its probabilities are exactly those served."""
    path = lying_model(tmp_path / "affine.onnx", scaled(factor, offset), seed=seed)
    honest = abs(factor - 1) * 1.0 + abs(offset) * len(EMOTIONS) <= PROBABILITY_TOLERANCE
    if honest:
        model = load_model(path)
        p = model.predict(check_windows(model.info.spec))
        np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-5)
    else:
        with pytest.raises(SerappError, match=r"not probabilities|sum to"):
            load_model(path)


@pytest.mark.parametrize("batch", [1, 2, 8])
def test_a_model_with_a_fixed_batch_is_refused_at_load(tmp_path: Path, batch: int) -> None:
    path = fixed_batch_model(tmp_path / f"batch{batch}.onnx", batch)
    with pytest.raises(SerappError, match=f"fixed batch of {batch}"):
        load_model(path)


@pytest.mark.parametrize("fields", [{"n_fft": 2**24}, {"hop_length": 1, "duration_s": 30.0, "sample_rate": 48000,
                                                        "fmax": 8000.0, "win_length": 2, "n_fft": 4096}])
def test_a_spec_needing_gigabytes_per_window_is_refused_before_anything_runs(tmp_path: Path,
                                                                             fields: dict[str, float]) -> None:
    path = huge_spec_model(tmp_path / "huge.onnx", **fields)
    with pytest.raises(SerappError, match="MB per window") as exc:
        load_model(path)
    assert window_bytes(FeatureSpec().replace(**fields)) > MAX_WINDOW_BYTES, exc.value


def test_a_model_that_only_works_one_window_at_a_time_is_refused(tmp_path: Path) -> None:
    """A free batch axis in the declaration, but a Reshape that needs batch 1: the 2-window check catches it."""
    model = build_model(SPEC)
    shape = numpy_helper.from_array(np.array([1, len(EMOTIONS)], np.int64), "one_row")
    model.graph.initializer.append(shape)
    model.graph.node.append(helper.make_node("Reshape", ["probs", "one_row"], ["out"]))
    del model.graph.output[:]
    model.graph.output.extend([helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", len(EMOTIONS)])])
    path = tmp_path / "batch-one.onnx"
    onnx.save_model(model, str(path))
    with pytest.raises(SerappError, match="batch of 2 windows"):
        load_model(path)


@pytest.mark.parametrize(("build", "reason"), [(custom_domain_model, "com.example.serapp"),
                                               (future_opset_model, "99")])
def test_onnxruntime_says_why_it_refuses_a_model(tmp_path: Path, build: Callable[[Path], Path],
                                                 reason: str) -> None:
    path = build(tmp_path / "refused.onnx")
    with pytest.raises(SerappError, match="not a readable ONNX model") as exc:
        load_model(path)
    message = str(exc.value)
    assert reason in message and "\n" not in message and len(message) < 400, message
    assert "damaged, truncated or of another kind" not in message


@pytest.mark.parametrize("n_flips", [1, 5, 20])
def test_flipped_bytes_anywhere_in_a_model_are_refused_or_served_as_probabilities(
        tmp_path: Path, onnx_model_path: Path, sample_clips: list[Path], n_flips: int) -> None:
    """Generated: 30 seeds x ``n_flips`` random bytes. A damaged model either fails to load with a plain message or
    gives valid probabilities for real speech; it never serves anything else."""
    good = onnx_model_path.read_bytes()
    speech = features.compute(audio.load(sample_clips[0], SPEC.sample_rate), SPEC)[None]
    refused = 0
    for seed in range(30):
        path = tmp_path / f"flip{n_flips}-{seed}.onnx"
        path.write_bytes(flip_bytes(good, n_flips, np.random.default_rng([seed, n_flips])))
        try:
            model = load_model(path)
        except SerappError as exc:
            assert str(path) in str(exc) and "\n" not in str(exc), exc
            refused += 1
            continue
        try:
            p = model.predict(speech)
        except SerappError as exc:  # refused for this input: plainly
            assert "\n" not in str(exc), exc
            continue
        assert np.isfinite(p).all() and (p >= 0).all() and np.allclose(p.sum(axis=-1), 1.0, atol=1e-4)
    if n_flips == 20:
        assert refused > 0  # twenty random bytes hit the graph or its metadata at least once in thirty tries


# ------------------------------------------------------------------------------------ non-finite spec values
NUMERIC_FIELDS = [f.name for f in dataclasses.fields(FeatureSpec) if f.type in ("int", "float")]


@settings(max_examples=120, deadline=None, derandomize=True)
@given(field=st.sampled_from([*NUMERIC_FIELDS, "image_size"]),
       value=st.sampled_from(["Infinity", "-Infinity", "NaN", "1e400", "-1e400", "1e300", "2.5", "64.0"]))
def test_non_finite_or_fractional_numbers_in_a_spec_are_plain_errors(field: str, value: str) -> None:
    """Generated over every numeric field of the feature spec: a JSON number that is not finite, or not whole
    where a whole number is needed, is a SerappError naming the spec, never an OverflowError."""
    text = FeatureSpec().to_json()
    data = json.loads(text)
    old = json.dumps(data[field], separators=(",", ":"))
    new = f"[{value},64]" if field == "image_size" else value
    text = text.replace(f'"{field}":{old}', f'"{field}":{new}')
    try:
        FeatureSpec.from_json(text)
    except SerappError as exc:
        assert str(exc).startswith("Invalid feature spec") and "\n" not in str(exc), exc
    else:  # only finite values of the right kind may pass (and then the spec validates them)
        assert value not in {"Infinity", "-Infinity", "NaN", "1e400", "-1e400"}, (field, value)


@pytest.mark.parametrize("field", ["image_size", "n_fft", "hop_length", "duration_s"])
def test_a_model_with_infinity_in_its_spec_is_one_plain_line(tmp_path: Path, sample_clips: list[Path],
                                                            capsys: pytest.CaptureFixture[str], field: str) -> None:
    text = SPEC.to_json()
    old = json.dumps(json.loads(text)[field], separators=(",", ":"))
    bad = text.replace(f'"{field}":{old}', f'"{field}":' + ("[Infinity,64]" if field == "image_size" else "Infinity"))
    path = save_model(tmp_path / "inf.onnx", SPEC, metadata=dict(META, **{"serapp.feature_spec": bad}))
    code = main(["analyze", "--model", str(path), str(sample_clips[0])])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert str(path) in err and "Infinity" in err, err


def test_a_damaged_model_prints_nothing_on_stdout(tmp_path: Path, onnx_model_path: Path, sample_clips: list[Path],
                                                  capfd: pytest.CaptureFixture[str]) -> None:
    """onnxruntime prints 'EP Error ... Falling back' banners for some damaged graphs; with --json they would be
    stray lines on stdout. Generated: byte flips until one makes onnxruntime fail to build the session."""
    good = onnx_model_path.read_bytes()
    failed = 0
    for seed in range(60):
        path = tmp_path / f"damaged{seed}.onnx"
        path.write_bytes(flip_bytes(good, 20, np.random.default_rng([seed, 99])))
        code = main(["analyze", "--json", "--model", str(path), str(sample_clips[0])])
        out, err = capfd.readouterr()
        if code == 2:
            failed += 1
            assert out == "" and err.count("\n") == 1 and "EP Error" not in err, (out, err)
    assert failed > 0
