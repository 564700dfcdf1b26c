"""Model faults at the command line: `serapp analyze --model BAD FILE` says what is wrong in one line on stderr,
prints no traceback and exits 2, for missing, damaged, metadata-less, inconsistent and misbehaving models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from serapp.cli import main
from serapp.engine.labels import EMOTIONS
from serapp.engine.modelmeta import ModelInfo
from serapp.engine.spec import FeatureSpec
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
