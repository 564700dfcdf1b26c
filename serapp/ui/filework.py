"""What the file view computes off the GUI thread (no Qt): the engine's analysis plus a display spectrogram, from
one decoding of the file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from serapp.engine import audio
from serapp.engine.adaptation import SpeakerMean
from serapp.engine.analysis import analyze_file
from serapp.engine.config import AnalyzerConfig
from serapp.engine.model import OnnxModel
from serapp.engine.spectrum import SpectrumTracker
from serapp.engine.summary import FileAnalysis

MAX_COLUMNS = 4000  # display columns: enough for a wide screen, bounded for hour-long files
N_FFT = 512


@dataclass(frozen=True)
class FileResult:
    """A file's analysis and its display spectrogram: ``spectrogram_db`` ``(n_columns, n_bins)``, ``freqs`` Hz."""

    analysis: FileAnalysis
    spectrogram_db: np.ndarray
    freqs: np.ndarray
    duration_s: float
    sample_rate: int

    @property
    def path(self) -> Path:
        return self.analysis.file


def display_hop(n_samples: int, max_columns: int = MAX_COLUMNS, min_hop: int = 160) -> int:
    """STFT step (samples) that gives at most ``max_columns`` columns for ``n_samples``, never below ``min_hop``."""
    return max(min_hop, -(-n_samples // max_columns))


def _display_tracker(duration_s: float, sample_rate: int, n_fft: int) -> SpectrumTracker:
    """The STFT of a display spectrogram for a file of ``duration_s`` seconds (at most :data:`MAX_COLUMNS`)."""
    return SpectrumTracker(sample_rate, n_fft, display_hop(round(duration_s * sample_rate)))


def _stack(columns: list[np.ndarray], tracker: SpectrumTracker) -> np.ndarray:
    return np.concatenate(columns) if columns else np.zeros((0, tracker.n_bins), dtype=np.float32)


def file_spectrogram(path: str | Path, sample_rate: int,
                     progress: Callable[[float], None] | None = None,
                     n_fft: int = N_FFT) -> tuple[np.ndarray, np.ndarray, float]:
    """Spectrogram of a whole file for display alone (a redraw at another FFT size), streamed in blocks (bounded
    memory); ``progress`` receives the seconds done after each block (and may raise to stop).

    Returns dB columns ``(n_columns, n_fft // 2 + 1)``, their frequencies (Hz) and the duration (s).
    """
    info = audio.probe(path)
    tracker = _display_tracker(info.duration_s, sample_rate, n_fft)
    columns, done = [], 0
    for block in audio.stream(path, sample_rate):
        columns.append(tracker.push(block))
        done += len(block)
        if progress is not None:
            progress(done / sample_rate)
    return _stack(columns, tracker), tracker.freqs, info.duration_s


def analyse(path: str | Path, model: OnnxModel, config: AnalyzerConfig,
            progress: Callable[[float], None] | None = None, speaker: SpeakerMean | None = None) -> FileResult:
    """The engine's whole-file analysis plus the display spectrogram (``config.spectrum_n_fft``, View ›
    Spectrogram's FFT size), both from one decoding of the file. Raises :class:`SerappError` for bad files.

    ``progress`` receives the share of the work done (0..1) now and then; to cancel, it raises
    :class:`~serapp.errors.Cancelled`, which this raises in turn. ``speaker``: adapt to the speaker
    (:func:`serapp.engine.analysis.analyze_file`).
    """
    sr = model.info.spec.sample_rate
    total_s = audio.probe(path).duration_s
    tracker = _display_tracker(total_s, sr, config.spectrum_n_fft)
    columns: list[np.ndarray] = []

    def report(done_s: float) -> None:
        if progress is not None:
            progress(min(1.0, done_s / total_s if total_s > 0 else 0.0))

    analysis = analyze_file(path, model, config, progress=report, tap=lambda block: columns.append(tracker.push(block)),
                            speaker=speaker)
    return FileResult(analysis, _stack(columns, tracker), tracker.freqs, max(total_s, analysis.summary.duration_s), sr)
