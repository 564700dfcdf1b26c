"""Engine settings as data: :class:`AnalyzerConfig` (frozen dataclass ⇄ JSON), validated at the boundary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from serapp.jsonconfig import JsonConfig, require


@dataclass(frozen=True)
class AnalyzerConfig(JsonConfig):
    """How the live analyzer and the file analysis window, gate and smooth. Times in seconds, levels in dBFS.

    - ``hop_s``: time between emotion updates (the window length is the model's ``spec.duration_s``).
    - ``smoothing_s``: EMA time constant of the served probabilities; 0 turns smoothing off.
    - ``gate_db``: a 20 ms frame counts as voiced only above this absolute level ...
    - ``snr_db``: ... and this far above the window's noise floor (its 10th-percentile frame level).
    - ``min_speech_s``: voiced time a window needs to be reported as speech rather than "silence".
    - ``wake_s``: worker wake-up period (spectrogram columns and the level meter update this often).
    - ``spectrum_n_fft`` / ``spectrum_hop_s``: STFT size (samples at 16 kHz) and column step of the live
      spectrogram.
    - ``queue_size``: capacity of the result queue (drop-oldest, counted).
    - ``batch_size``: windows per inference batch in whole-file analysis.
    """

    KIND: ClassVar[str] = "analyzer setting"

    hop_s: float = 0.25
    smoothing_s: float = 0.5
    gate_db: float = -50.0
    snr_db: float = 10.0
    min_speech_s: float = 0.2
    wake_s: float = 0.03
    spectrum_n_fft: int = 512
    spectrum_hop_s: float = 0.01
    queue_size: int = 64
    batch_size: int = 8  # larger batches fall out of the CPU cache and run slower per window

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`SerappError` with a plain message when a setting is out of range."""
        checks: list[tuple[bool, str]] = [
            (0.02 <= self.hop_s <= 10.0, f"hop_s must be 0.02-10 s, got {self.hop_s}"),
            (0.0 <= self.smoothing_s <= 60.0, f"smoothing_s must be 0-60 s, got {self.smoothing_s}"),
            (-120.0 <= self.gate_db <= 0.0, f"gate_db must be -120..0 dBFS, got {self.gate_db}"),
            (0.0 <= self.snr_db <= 60.0, f"snr_db must be 0-60 dB, got {self.snr_db}"),
            (0.0 <= self.min_speech_s <= 10.0, f"min_speech_s must be 0-10 s, got {self.min_speech_s}"),
            (0.005 <= self.wake_s <= 0.5, f"wake_s must be 0.005-0.5 s, got {self.wake_s}"),
            (64 <= self.spectrum_n_fft <= 8192, f"spectrum_n_fft must be 64-8192, got {self.spectrum_n_fft}"),
            (0.002 <= self.spectrum_hop_s <= 0.1, f"spectrum_hop_s must be 0.002-0.1 s, got {self.spectrum_hop_s}"),
            (1 <= self.queue_size <= 100_000, f"queue_size must be 1-100000, got {self.queue_size}"),
            (1 <= self.batch_size <= 4096, f"batch_size must be 1-4096, got {self.batch_size}"),
        ]
        require(checks, self.KIND)
