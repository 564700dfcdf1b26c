"""The numpy reader of CTranslate2 ``model.bin`` files, checked against files ctranslate2's own writer made
(every stored dtype the converter can produce without torch, quantised weights, aliases), the Whisper tiny.en
folder of the ``whisper`` extra, and damaged input; and the model-folder finder."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from serapp_train.whisper.ctranslate2_reader import DEFAULT_PACKAGE, find_model_dir, read_model

from serapp.errors import SerappError
from tests.whisper_support import require_whisper_extra


def _tiny_spec_class() -> type:
    from ctranslate2.specs import common_spec, model_spec

    class Block(model_spec.LayerSpec):
        def __init__(self) -> None:
            self.dense = common_spec.LinearSpec()
            self.norm = common_spec.LayerNormSpec()

    class TinyModel(model_spec.ModelSpec):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = Block()

        @property
        def name(self) -> str:
            return "TinySpec"

        @property
        def revision(self) -> int:
            return 3

    return TinyModel


def _write_with_ctranslate2(folder: Path, quantization: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Write a small model.bin with ctranslate2's serialiser; return the float32 values it was made from."""
    require_whisper_extra()
    spec = _tiny_spec_class()()
    values = {"encoder/dense/weight": rng.normal(size=(5, 3)).astype(np.float32),
              "encoder/dense/bias": rng.normal(size=(5,)).astype(np.float32),
              "encoder/norm/gamma": rng.normal(size=(3,)).astype(np.float32)}
    spec.encoder.dense.weight = values["encoder/dense/weight"].copy()
    spec.encoder.dense.bias = values["encoder/dense/bias"].copy()
    spec.encoder.norm.gamma = values["encoder/norm/gamma"].copy()
    spec.encoder.norm.beta = values["encoder/norm/gamma"].copy()  # equal: the writer stores it as an alias
    spec.validate()
    spec.optimize(quantization)
    folder.mkdir()
    spec._serialize(str(folder / "model.bin"))  # the writer ctranslate2's converters use
    return values


@pytest.mark.parametrize(("quantization", "stored", "rel_error", "per_row"), [
    ("float32", np.float32, 0.0, False), ("float16", np.float16, 2.0**-11, False),
    ("int8_float16", np.int8, 0.5 / 127, True), ("int16", np.int16, 0.5 / 1024, False)])
def test_reads_what_ctranslate2_wrote(tmp_path: Path, quantization: str, stored: type, rel_error: float,
                                      per_row: bool) -> None:
    values = _write_with_ctranslate2(tmp_path / "m", quantization, np.random.default_rng(0))
    model = read_model(tmp_path / "m")
    assert (model.binary_version, model.spec_name, model.spec_revision) == (6, "TinySpec", 3)
    assert model["encoder/dense/weight"].dtype == stored
    assert model["encoder/dense/weight"].shape == (5, 3)
    # gamma == beta, so the writer kept one and aliased the other
    assert "encoder/norm/gamma" in model and "encoder/norm/beta" in model
    assert len(model.aliases) == 1
    for name, want in values.items():
        got = model.float32(name)
        assert got.dtype == np.float32 and got.shape == want.shape
        # rounding to the nearest step: half a step of the row's (int8) or the tensor's (int16, float16) range
        rows = per_row and name.endswith("weight")
        bound = rel_error * (np.abs(want).max(axis=-1, keepdims=True) if rows else np.abs(want).max())
        assert np.all(np.abs(got - want) <= bound + 1e-7), (name, np.abs(got - want).max())


def _variable_record(name: str, shape: tuple[int, ...], type_id: int, data: bytes) -> bytes:
    encoded = name.encode() + b"\0"
    return (struct.pack("<H", len(encoded)) + encoded + struct.pack("<B", len(shape))
            + struct.pack(f"<{len(shape)}I", *shape) + struct.pack("<BI", type_id, len(data)) + data)


def _header(n_variables: int, version: int = 6) -> bytes:
    return struct.pack("<I", version) + struct.pack("<H", 5) + b"Spec\0" + struct.pack("<II", 1, n_variables)


def test_bfloat16_is_widened_to_float32(tmp_path: Path) -> None:
    # ctranslate2 writes bfloat16 only through torch (not installed), so the bytes are built here: bfloat16 is the
    # top half of a float32, exact for these values.
    want = np.array([1.0, -2.5, 0.15625, 2.0**127], dtype=np.float32)
    data = (want.view(np.uint32) >> 16).astype("<u2").tobytes()
    (tmp_path / "model.bin").write_bytes(_header(1) + _variable_record("w", (4,), 5, data) + struct.pack("<I", 0))
    got = read_model(tmp_path)["w"]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)


def test_damaged_files_give_plain_errors(tmp_path: Path) -> None:
    good = _header(1) + _variable_record("w", (2,), 0, np.ones(2, "<f4").tobytes()) + struct.pack("<I", 0)
    cases = {"truncated": good[:-9], "version": _header(1, version=2) + good[len(_header(1)):],
             "size": _header(1) + _variable_record("w", (3,), 0, np.ones(2, "<f4").tobytes()) + struct.pack("<I", 0),
             "dtype": _header(1) + _variable_record("w", (2,), 9, b"\0" * 8) + struct.pack("<I", 0)}
    messages = {"truncated": "ends early", "version": "binary version 2", "size": "holds 8 bytes",
                "dtype": "unknown dtype id 9"}
    for case, data in cases.items():
        (tmp_path / case).mkdir()
        (tmp_path / case / "model.bin").write_bytes(data)
        with pytest.raises(SerappError, match=messages[case]):
            read_model(tmp_path / case)
    with pytest.raises(SerappError, match="Cannot open"):
        read_model(tmp_path / "absent")
    # the same bytes, undamaged, read fine: the errors above come from the damage alone
    (tmp_path / "good.bin").write_bytes(good)
    assert read_model(tmp_path / "good.bin")["w"].tolist() == [1.0, 1.0]


def test_whisper_tiny_encoder_from_the_wheel() -> None:
    folder = require_whisper_extra()
    assert (folder / "config.json").is_file()
    encoder = read_model(folder, keep=lambda name: name.startswith("encoder/"))
    assert encoder.spec_name == "WhisperSpec"
    assert all(name.startswith("encoder/") for name in encoder.variables)
    assert int(encoder["encoder/num_heads"]) == 6
    assert encoder["encoder/conv1/weight"].shape == (384, 80, 3)
    assert encoder["encoder/conv2/weight"].shape == (384, 384, 3)
    assert encoder["encoder/position_encodings/encodings"].shape == (1500, 384)
    assert encoder["encoder/layer_3/self_attention/linear_0/weight"].shape == (3 * 384, 384)  # fused q, k, v
    assert encoder["encoder/layer_0/ffn/linear_0/weight"].dtype == np.float16
    n_params = sum(v.size for k, v in encoder.variables.items() if k != "encoder/num_heads")
    # the figure: about 8.2 M parameters, of which 1500 x 384 are the fixed sinusoidal positions
    assert 8.0e6 < n_params < 8.4e6
    # the decoder's variables are skipped, not loaded, but the whole file parses (aliases at its end)
    assert "decoder/projection/weight" in encoder.aliases


def test_find_model_dir(tmp_path: Path) -> None:
    packaged = require_whisper_extra()
    assert find_model_dir(DEFAULT_PACKAGE) == packaged
    assert find_model_dir(str(packaged)) == packaged
    # a faster-whisper-style download: the model folder one or more levels below the folder given
    snapshot = tmp_path / "hub" / "models--x--faster-whisper-tiny.en" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    for name in ("model.bin", "config.json"):
        (snapshot / name).symlink_to(packaged / name)
    assert find_model_dir(tmp_path / "hub") == snapshot
    assert find_model_dir(snapshot) == snapshot
    second = tmp_path / "hub" / "other"
    second.mkdir()
    for name in ("model.bin", "config.json"):
        (second / name).symlink_to(packaged / name)
    with pytest.raises(SerappError, match="2 CTranslate2 model folders"):
        find_model_dir(tmp_path / "hub")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SerappError, match="no CTranslate2 model folders"):
        find_model_dir(tmp_path / "empty")
    with pytest.raises(SerappError, match="No CTranslate2 model folder or Python package named 'no_such_pkg_x'"):
        find_model_dir("no_such_pkg_x")
    with pytest.raises(SerappError, match="No CTranslate2 model folder"):
        find_model_dir(tmp_path / "absent" / "path")
