"""What the file view computes off the GUI thread (no Qt): the engine's analysis plus a display spectrogram."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from serapp.engine import audio
from serapp.engine.analysis import FileAnalysis, analyze_file
from serapp.engine.config import AnalyzerConfig
from serapp.engine.model import OnnxModel
from serapp.engine.spectrum import SpectrumTracker

MAX_COLUMNS = 4000  # display columns: enough for a wide screen, bounded for hour-long files
N_FFT = 512
# Share of a file's work in the engine's analysis (features and inference); the display spectrogram is the rest.
ANALYSIS_SHARE = 0.9


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


def file_spectrogram(path: str | Path, sample_rate: int,
                     progress: Callable[[float], None] | None = None,
                     n_fft: int = N_FFT) -> tuple[np.ndarray, np.ndarray, float]:
    """Spectrogram of a whole file for display, streamed in blocks (bounded memory); ``progress`` receives the
    seconds done after each block (and may raise to stop).

    Returns dB columns ``(n_columns, n_fft // 2 + 1)``, their frequencies (Hz) and the duration (s).
    """
    info = audio.probe(path)
    n = round(info.duration_s * sample_rate)
    tracker = SpectrumTracker(sample_rate, n_fft, display_hop(n))
    columns, done = [], 0
    for block in audio.stream(path, sample_rate):
        columns.append(tracker.push(block))
        done += len(block)
        if progress is not None:
            progress(done / sample_rate)
    db = np.concatenate(columns) if columns else np.zeros((0, tracker.n_bins), dtype=np.float32)
    return db, tracker.freqs, info.duration_s


def analyse(path: str | Path, model: OnnxModel, config: AnalyzerConfig,
            progress: Callable[[float], None] | None = None) -> FileResult:
    """The engine's whole-file analysis plus the display spectrogram. Raises :class:`SerappError` for bad files.

    ``progress`` receives the share of the work done (0..1) now and then; to cancel, it raises
    :class:`~serapp.errors.Cancelled`, which this raises in turn.
    """
    total_s = audio.probe(path).duration_s if progress is not None else 0.0

    def share(offset: float, weight: float) -> Callable[[float], None] | None:
        if progress is None:
            return None
        return lambda done_s: progress(offset + weight * min(1.0, done_s / total_s if total_s > 0 else 0.0))

    analysis = analyze_file(path, model, config, progress=share(0.0, ANALYSIS_SHARE))
    db, freqs, duration = file_spectrogram(path, model.info.spec.sample_rate,
                                           progress=share(ANALYSIS_SHARE, 1.0 - ANALYSIS_SHARE),
                                           n_fft=config.spectrum_n_fft)  # View › Spectrogram's FFT size
    return FileResult(analysis, db, freqs, max(duration, analysis.summary.duration_s), model.info.spec.sample_rate)
