"""Serving ONNX models: calibrated predictions, and refusal of every kind of broken model file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from serapp.engine.model import calibrate, load_model
from serapp.engine.spec import FeatureSpec
from serapp.errors import SerappError
from serapp.paths import default_model_path
from tests.onnx_models import broken_models, save_model


@pytest.mark.parametrize("kind", ["logmel", "mfcc", "frames", "stats", "image"])
def test_predict_gives_probabilities_for_every_feature_kind(tmp_path: Path, kind: str) -> None:
    spec = FeatureSpec(kind=kind)
    model = load_model(save_model(tmp_path / f"{kind}.onnx", spec))
    x = np.random.default_rng(1).standard_normal((3, *spec.shape)).astype(np.float32)
    p = model.predict(x)
    assert p.shape == (3, len(model.labels))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    assert not np.allclose(p[0], p[1])  # the output depends on the input


def test_temperature_is_applied(tmp_path: Path) -> None:
    spec = FeatureSpec(kind="stats")
    x = np.random.default_rng(2).standard_normal((2, *spec.shape)).astype(np.float32) * 5
    plain = load_model(save_model(tmp_path / "t1.onnx", spec)).predict(x)
    hot = load_model(save_model(tmp_path / "t3.onnx", spec, temperature=3.0)).predict(x)
    np.testing.assert_allclose(hot, calibrate(plain, 3.0), rtol=1e-4, atol=1e-6)
    assert hot.max() < plain.max()  # a higher temperature flattens


def test_wrong_feature_shape_is_refused(onnx_model_path: Path) -> None:
    model = load_model(onnx_model_path)
    with pytest.raises(SerappError, match="expects features of shape"):
        model.predict(np.zeros((1, 10, 64, 1), dtype=np.float32))


@pytest.mark.parametrize("case, message", [
    ("missing", "no such model file"), ("no_metadata", "not a serapp model"), ("bad_json", "damaged metadata"),
    ("unknown_kind", "unknown feature kind"), ("wrong_input_shape", "input shape"),
    ("wrong_output_width", "output shape"), ("truncated", "not a readable ONNX model"),
    ("garbage", "not a readable ONNX model"), ("no_crowd_output", "lacks its 'crowd' output"),
    ("bad_crowd_threshold", "crowd threshold must be within")])
def test_broken_models_are_refused_plainly(tmp_path: Path, case: str, message: str) -> None:
    path = broken_models(tmp_path, FeatureSpec())[case]
    with pytest.raises(SerappError, match=message) as info:
        load_model(path)
    assert str(path) in str(info.value)


def test_absent_bundled_model_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("serapp.engine.model.default_model_path", lambda: tmp_path / "none.onnx")
    with pytest.raises(SerappError, match=r"bundled model .* is absent"):
        load_model()
    assert default_model_path().name == "serapp-default.onnx"


@pytest.mark.parametrize("label", ["silence", "No speech", "no_speech", "Pause"])
def test_a_label_spelled_like_no_emotion_is_refused(tmp_path: Path, label: str) -> None:
    """"silence" as a label would be indistinguishable from a pause in every timeline and export."""
    import json

    import onnx

    path = save_model(tmp_path / "good.onnx", FeatureSpec())
    proto = onnx.load(str(path))
    for prop in proto.metadata_props:
        if prop.key == "serapp.labels":
            labels = json.loads(prop.value)
            prop.value = json.dumps([*labels[:-1], label])
    onnx.save_model(proto, str(path))
    with pytest.raises(SerappError, match=f"label '{label}', a word serapp keeps for the absence of an emotion"):
        load_model(path)


def test_a_session_with_more_threads_gives_the_same_answers(sample_clips: list[Path]) -> None:
    """`serapp analyze` gives the bundled model the machine's cores (batch work); live keeps one thread: the
    answers must not depend on it."""
    from serapp.engine import audio, features

    one, two = load_model(None), load_model(None, threads=2)
    assert (one.threads, two.threads) == (1, 2)
    assert two._session.get_session_options().intra_op_num_threads == 2
    spec = one.info.spec
    x = features.compute_batch([audio.load(p, spec.sample_rate) for p in sample_clips[:4]], spec)
    np.testing.assert_allclose(two.predict(x), one.predict(x), atol=1e-6)
    with pytest.raises(SerappError, match="at least one thread"):
        load_model(None, threads=0)


def test_analyze_loads_its_model_with_the_file_threads_and_listen_with_one(
        monkeypatch: pytest.MonkeyPatch, sample_clips: list[Path], capsys: pytest.CaptureFixture[str]) -> None:
    from serapp import cli
    from serapp.engine import analysis
    from serapp.engine import model as model_module

    asked: list[int] = []
    real = model_module.load_model

    def recording(path: object = None, *, threads: int = 1) -> object:
        asked.append(threads)
        return real(path, threads=threads)

    monkeypatch.setattr(model_module, "load_model", recording)
    monkeypatch.setattr(analysis, "file_threads", lambda: 3)
    assert cli.main(["analyze", str(sample_clips[0]), "--json"]) == 0
    assert cli.main(["listen", "--input", str(sample_clips[0]), "--max-results", "1"]) == 0
    capsys.readouterr()
    assert asked == [3, 1]


def test_file_threads_are_the_cores_within_the_cap() -> None:
    from serapp.engine.analysis import MAX_FILE_THREADS, file_threads

    assert 1 <= file_threads() <= MAX_FILE_THREADS
