"""An adaptable model (issue 29, item 4): a head trained on speaker-adapted embeddings attached to an exported
Whisper model (`serapp-train export ADAPTED_RUN --onto MODEL.onnx`). The base's own answers stay bit for bit; the
adapted head answers on the base's pooled layers less the speaker mean; the app's loader serves both."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from serapp_train.adaptable import attach_head

from serapp.errors import SerappError
from tests.whisper_support import require_whisper_extra

RNG = np.random.default_rng(0)
W_PLAIN = RNG.standard_normal((6, 3)).astype(np.float32)
W_HEAD = RNG.standard_normal((6, 3)).astype(np.float32)


def _graph_model(nodes: list[onnx.NodeProto], input_shape: list[int | str], w: np.ndarray) -> onnx.ModelProto:
    """A model of ``nodes`` from input ``features`` of ``input_shape`` to ``probs`` (batch, 3), weights ``w``."""
    graph = helper.make_graph(nodes, "test", [helper.make_tensor_value_info("features", TensorProto.FLOAT,
                                                                           input_shape)],
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", 3])],
                              initializer=[numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _base(pooling_name: str = "whisper_classifier/mean_std/concat") -> onnx.ModelProto:
    """features (batch, 4, 3) -> mean and std over time, concatenated (batch, 2, 3) as the Whisper classifier's
    pooling names them -> flatten -> MatMul -> Softmax ``probs``."""
    nodes = [helper.make_node("ReduceMean", ["features"], ["m"], axes=[1], keepdims=1),
             helper.make_node("ReduceMax", ["features"], ["s"], axes=[1], keepdims=1),
             helper.make_node("Concat", ["m", "s"], ["pooled"], axis=1, name=pooling_name),
             helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
             helper.make_node("MatMul", ["flat", "w"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["probs"], axis=-1)]
    return _graph_model(nodes, ["batch", 4, 3], W_PLAIN)


def _head() -> onnx.ModelProto:
    """A head on pooled layers (batch, 2, 3), with a node and an initializer named as the base's are."""
    nodes = [helper.make_node("Flatten", ["features"], ["flat"], axis=1),
             helper.make_node("MatMul", ["flat", "w"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["probs"], axis=-1)]
    return _graph_model(nodes, ["batch", 2, 3], W_HEAD)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_the_attached_head_answers_on_the_pooled_layers_less_the_mean_and_the_base_is_untouched() -> None:
    merged = attach_head(_base(), _head(), (2, 3))
    session = ort.InferenceSession(merged.SerializeToString(), providers=["CPUExecutionProvider"])
    x = RNG.standard_normal((5, 4, 3)).astype(np.float32)
    pooled = np.concatenate([x.mean(axis=1, keepdims=True), x.max(axis=1, keepdims=True)], axis=1)
    plain, adapted0, embedding = session.run(["probs", "adapted_probs", "embedding"], {"features": x})
    np.testing.assert_array_equal(plain, ort.InferenceSession(_base().SerializeToString()).run(None,
                                                                                              {"features": x})[0])
    np.testing.assert_allclose(embedding, pooled, rtol=1e-6)
    np.testing.assert_allclose(adapted0, _softmax(pooled.reshape(5, -1) @ W_HEAD), rtol=1e-5)  # mean: zeros
    mean = pooled.mean(axis=0, keepdims=True)
    (adapted,) = session.run(["adapted_probs"], {"features": x, "speaker_mean": mean})
    np.testing.assert_allclose(adapted, _softmax((pooled - mean).reshape(5, -1) @ W_HEAD), rtol=1e-5)
    assert [i.name for i in session.get_inputs()] == ["features"]  # the mean may be left out
    assert [i.name for i in session.get_overridable_initializers()] == ["speaker_mean"]


def test_a_base_without_whisper_pooling_or_adaptable_already_is_refused() -> None:
    with pytest.raises(SerappError, match="0 mean_std pooling outputs"):
        attach_head(_base("some_concat"), _head(), (2, 3))
    with pytest.raises(SerappError, match="adaptable already"):
        attach_head(attach_head(_base(), _head(), (2, 3)), _head(), (2, 3))


@pytest.mark.corpora
@pytest.mark.slow
def test_export_onto_a_whisper_model_makes_a_model_the_app_adapts_with(corpora: Path, tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Two tiny runs on the same clips, a plain one exported and one trained with speaker_adaptation; the second's
    head attached onto the first's file serves the first's answers unchanged and the adapted head's beside them."""
    import keras
    from serapp_train.cli import main
    from serapp_train.metrics import apply_temperature
    from serapp_train.provenance import adapted_from, sha256_file

    from serapp.engine import audio, features
    from serapp.engine.model import load_model

    require_whisper_extra()
    runs = tmp_path / "runs"
    common = {"family": "whisper_tiny", "limit": 16, "k": 3, "seed": 1, "epochs": 2, "batch_size": 16}
    for name, extra in (("plain", {}), ("adapted", {"speaker_adaptation": 2})):
        config = tmp_path / f"{name}.json"
        config.write_text(json.dumps(common | extra))
        args = ["train", "--config", str(config), "--quiet", "--root", str(corpora), "--runs-dir", str(runs / name)]
        assert main([*args, "--export"] if name == "plain" else args) == 0
    (plain,), (adapted,) = (list((runs / name).iterdir()) for name in ("plain", "adapted"))
    capsys.readouterr()
    assert main(["export", str(adapted), "--root", str(corpora)]) == 2  # alone it would answer nonsense
    assert "--onto" in capsys.readouterr().err
    out = tmp_path / "adaptable.onnx"
    assert main(["export", str(adapted), "--onto", str(plain / "model.onnx"), "--out", str(out), "--root",
                 str(corpora)]) == 0
    base, served = load_model(plain / "model.onnx"), load_model(out)
    assert served.adaptable and served.info.adapt_clips == 2 and not base.adaptable
    assert served.info.labels == base.info.labels and served.info.name == base.info.name
    # it names the file it adapts, so a student whose teacher was that file still checks out against it
    assert adapted_from(out) == sha256_file(plain / "model.onnx") and adapted_from(plain / "model.onnx") is None
    clips = sorted((corpora / "ravdess").rglob("*.ogg"))[:4]
    x = features.compute_batch([audio.load(p, 16000) for p in clips], served.info.spec)
    np.testing.assert_array_equal(served.predict(x), base.predict(x))
    _, embedding = served.scores(x, embeddings=True)
    assert embedding is not None and embedding.shape == (4, 5, 768)
    mean = embedding.mean(axis=0)
    head = keras.saving.load_model(adapted / "model.keras", safe_mode=True)
    want = apply_temperature(keras.ops.convert_to_numpy(head(embedding - mean, training=False)),
                             served.info.adapt_temperature)
    assert np.abs(served.scores(x, mean)[0] - want).max() <= 1e-4


@pytest.mark.corpora
@pytest.mark.slow
def test_a_head_on_a_trained_encoders_pooled_layers_attaches_only_to_that_encoder(corpora: Path, tmp_path: Path,
                                                                                  capsys: pytest.CaptureFixture[str]
                                                                                  ) -> None:
    """``encoder_run``: a speaker-adapted head trained on the pooled layers of the encoder a ``top_blocks`` run
    trained. Its rows are what that run's exported file gives as its embedding; it attaches onto that file, and
    a file with the checkpoint's encoder is refused (and the reverse)."""
    from serapp_train.cli import main
    from serapp_train.config import TrainConfig
    from serapp_train.data import load_data
    from serapp_train.provenance import encoder_run_in

    from serapp.engine import audio, features
    from serapp.engine.model import load_model

    require_whisper_extra()
    runs = tmp_path / "runs"
    common = {"family": "whisper_tiny", "limit": 16, "k": 3, "seed": 1, "epochs": 1, "batch_size": 16}
    configs = {"plain": {}, "top": {"model_options": {"top_blocks": 1}, "learning_rate": 1e-4},
               "adapted": {"speaker_adaptation": 2}}
    for name in ("plain", "top"):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(common | configs[name]))
        assert main(["train", "--config", str(path), "--quiet", "--root", str(corpora), "--runs-dir",
                     str(runs / name), "--export"]) == 0
    (plain,), (top,) = (list((runs / name).iterdir()) for name in ("plain", "top"))
    assert encoder_run_in(top / "model.onnx") == top.name and encoder_run_in(plain / "model.onnx") is None
    for name, encoder in (("adapted", None), ("adapted-top", str(top))):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(common | configs["adapted"] | ({"encoder_run": encoder} if encoder else {})))
        assert main(["train", "--config", str(path), "--quiet", "--root", str(corpora), "--runs-dir",
                     str(runs / name)]) == 0
    (adapted,), (adapted_top,) = (list((runs / name).iterdir()) for name in ("adapted", "adapted-top"))

    out = tmp_path / "adaptable.onnx"
    for head, base, ok in ((adapted_top, plain, False), (adapted, top, False), (adapted_top, top, True)):
        capsys.readouterr()
        code = main(["export", str(head), "--onto", str(base / "model.onnx"), "--out", str(out), "--root",
                     str(corpora)])
        assert code == (0 if ok else 2)
        if not ok:
            assert "trained on the encoder of" in capsys.readouterr().err
    served = load_model(out)
    assert served.adaptable and encoder_run_in(out) == top.name

    config = TrainConfig.from_json((adapted_top / "config.json").read_text()).replace(speaker_adaptation=0)
    data = load_data(config, corpora, progress=False)  # the head's rows, before adapting
    checkpoint = load_data(config.replace(encoder_run=None), corpora, progress=False)
    rows = data.split.test[:3]
    x = features.compute_batch([audio.load(data.clips[i].path, 16000) for i in rows], served.info.spec)
    _, embedding = served.scores(x, embeddings=True)
    assert embedding is not None and data.features.shape[1:] == (5, 768)
    np.testing.assert_allclose(data.features[rows], embedding, atol=2e-2, rtol=1e-2)  # float16 frames in
    np.testing.assert_allclose(checkpoint.features[rows, :4], embedding[:, :4], atol=2e-2, rtol=1e-2)
    assert np.abs(checkpoint.features[rows, 4] - embedding[:, 4]).max() > 1e-3  # the trained block's layer
