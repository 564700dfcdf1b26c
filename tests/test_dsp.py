"""serapp.engine.dsp computes what librosa and scipy compute, and the live path runs without importing the parts of
them that cost the app's cold start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import librosa
import numpy as np
import pytest
import scipy.signal

from serapp.engine import dsp
from serapp.engine.spectrum import SpectrumTracker
from serapp.engine.vad import DcBlocker


@pytest.mark.parametrize("length", [7, 400, 512])
def test_hann_is_the_periodic_window(length: int) -> None:
    np.testing.assert_allclose(dsp.hann(length), scipy.signal.get_window("hann", length, fftbins=True), atol=1e-15)


@pytest.mark.parametrize(("n", "size"), [(400, 400), (400, 512), (7, 10)])
def test_pad_center_is_librosas(n: int, size: int) -> None:
    x = np.arange(1, n + 1, dtype=np.float64)
    assert np.array_equal(dsp.pad_center(x, size=size), librosa.util.pad_center(x, size=size))
    with pytest.raises(ValueError, match="Cannot pad"):
        dsp.pad_center(x, size=n - 1)


@pytest.mark.parametrize("shape", [(1600,), (3, 1600), (2, 2, 1001)])
def test_frames_are_librosas(shape: tuple[int, ...]) -> None:
    y = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    ours = dsp.frame(y, frame_length=400, hop_length=160)
    assert np.array_equal(ours, librosa.util.frame(y, frame_length=400, hop_length=160, axis=-1))
    with pytest.raises(ValueError, match="fewer than one frame"):
        dsp.frame(y[..., :399], frame_length=400, hop_length=160)


@pytest.mark.parametrize(("sr", "n_fft", "n_mels", "fmin", "fmax"),
                         [(16000, 400, 80, 0.0, 8000.0), (16000, 512, 64, 0.0, None), (16000, 1024, 128, 50.0, 7600.0),
                          (8000, 256, 40, 20.0, None)])
def test_mel_filters_are_librosas(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None) -> None:
    ours = dsp.mel_filters(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    theirs = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    assert ours.dtype == np.float32 and ours.shape == theirs.shape
    assert np.array_equal(ours, theirs)  # the same arithmetic in the same order
    np.testing.assert_allclose(dsp.fft_frequencies(sr=sr, n_fft=n_fft), librosa.fft_frequencies(sr=sr, n_fft=n_fft))


@pytest.mark.parametrize("a", [0.9999, 0.996, 0.9, 0.3])
@pytest.mark.parametrize("n", [0, 1, 255, 5000])
def test_first_order_recursion_is_lfilters(a: float, n: int) -> None:
    u = np.random.default_rng(n).standard_normal(n)
    expected = scipy.signal.lfilter([1.0], [1.0, -a], u, zi=[a * 0.7])[0]  # y[-1] = 0.7
    np.testing.assert_allclose(dsp.first_order_recursion(u, a, 0.7), expected, rtol=1e-9, atol=1e-9)


def test_the_dc_blocker_gives_lfilters_numbers_block_by_block() -> None:
    """The DC blocker is the one-pole high-pass it was with scipy.signal.lfilter and its state, in any blocks."""
    rng = np.random.default_rng(1)
    y = (0.01 + 0.1 * rng.standard_normal(20000)).astype(np.float32)
    a = float(np.exp(-2.0 * np.pi * 10.0 / 16000))
    g = (1.0 + a) / 2.0
    b, den = np.array([g, -g]), np.array([1.0, -a])
    expected = scipy.signal.lfilter(b, den, y.astype(np.float64), zi=np.array([b[1] * y[0]]))[0]
    blocker = DcBlocker()
    ours = np.concatenate([blocker.process(y[i:i + 513]) for i in range(0, y.size, 513)])
    np.testing.assert_allclose(ours, expected, atol=1e-6)


def test_spectrum_columns_are_librosas_stft() -> None:
    y = np.random.default_rng(2).standard_normal(4000).astype(np.float32) * 0.1
    tracker = SpectrumTracker(16000, n_fft=512, hop=160)
    columns = tracker.push(y)
    s = librosa.stft(y[: (len(columns) - 1) * 160 + 512], n_fft=512, hop_length=160, window="hann", center=False)
    expected = 10 * np.log10(np.maximum((np.abs(s) ** 2) / tracker._ref_power, 1e-12)).T
    np.testing.assert_allclose(columns, expected, atol=1e-3)


_LIVE_PATH = """
import sys
import numpy as np
from serapp.engine.analysis import analyze_signal
from serapp.engine.audio import load
from serapp.engine.model import load_model
from serapp.engine.spectrum import SpectrumTracker
model = load_model(sys.argv[1])
y = load(sys.argv[2], model.info.spec.sample_rate)
analyze_signal([y], model)
SpectrumTracker(model.info.spec.sample_rate).push(y)
print(" ".join(m for m in ("scipy.signal", "scipy.ndimage", "numba", "librosa.filters", "librosa.core.audio")
               if m in sys.modules))
"""


@pytest.mark.parametrize("which", ["bundled", "logmel"])
def test_analysing_a_clip_imports_neither_scipy_signal_nor_numba(which: str, onnx_model_path: Path,
                                                                 sample_clips: list[Path]) -> None:
    """Loading a model, analysing a clip (speech detection, features, the model) and drawing its spectrum leave
    out the modules that made the cold start slow; an import added on this path fails here."""
    from serapp.bundle import default_model_path

    model = default_model_path() if which == "bundled" else onnx_model_path
    done = subprocess.run([sys.executable, "-c", _LIVE_PATH, str(model), str(sample_clips[0])],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"imported on the live path: {done.stdout}"
