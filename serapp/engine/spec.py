"""The feature spec: every parameter of preprocessing and feature extraction, as one serialisable value.

A spec travels inside each exported ONNX model, so the app computes exactly what the model was trained on,
and its hash keys the trainer's feature cache.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import ClassVar, Literal

from serapp.jsonconfig import JsonConfig, require

# Bump when the *code* that turns a spec into numbers changes, so cached features are recomputed.
FEATURES_VERSION = 1

FeatureKind = Literal["logmel", "mfcc", "frames", "stats", "image", "whisper_logmel"]
FEATURE_KINDS: tuple[str, ...] = ("logmel", "mfcc", "frames", "stats", "image", "whisper_logmel")
NORMALISATIONS: tuple[str, ...] = ("none", "utterance")
PITCH_KINDS: tuple[str, ...] = ("logmel", "frames", "stats")
# The analysis a pretrained Whisper encoder was trained on: a ``whisper_logmel`` spec must have exactly these
# (``FeatureSpec(kind="whisper_logmel", **WHISPER_LOGMEL)``).
WHISPER_LOGMEL: Mapping[str, float] = MappingProxyType({"sample_rate": 16000, "n_fft": 400, "win_length": 400,
                                                        "hop_length": 160, "n_mels": 80, "fmin": 0.0, "fmax": 8000.0})


@dataclass(frozen=True)
class FeatureSpec(JsonConfig):
    """Preprocessing and feature parameters. Times in seconds, rates in Hz, sizes in samples or bins.

    kind selects the model input:
      - ``logmel``: log-mel spectrogram, shape ``(n_frames, n_mels, channels)``; channels = 3 with deltas,
        2 more with pitch.
      - ``mfcc``: MFCC sequence, shape ``(n_frames, n_mfcc)``.
      - ``frames``: zero-crossing rate and RMS per frame (and with pitch, log-f0 and voicing),
        shape ``(n_frames, 2)`` (``(n_frames, 4)``).
      - ``stats``: mean and std over time of MFCC, chroma, log-mel, ZCR and RMS (and with pitch, log-f0 and
        voicing), shape ``(n_stats,)``.
      - ``image``: MFCC, chroma and log-mel each resized to ``image_size`` and stacked,
        shape ``(height, width, 3)``, values in [0, 1].
      - ``whisper_logmel``: Whisper's log-mel (log10 power, floored 8 below the example's peak, then
        ``(x + 4) / 4``), shape ``(n_samples // hop_length, n_mels)``; the STFT parameters must be
        :data:`WHISPER_LOGMEL`'s. Like ``image`` and ``stats``, it has no deltas and no normalization.
    """

    KIND: ClassVar[str] = "feature spec"

    kind: FeatureKind = "logmel"
    sample_rate: int = 16000
    duration_s: float = 3.0
    # Preprocessing
    trim_silence: bool = True
    trim_top_db: float = 30.0
    normalize_loudness: bool = False
    target_dbfs: float = -23.0
    # Short-time analysis
    n_fft: int = 512
    win_length: int = 400
    hop_length: int = 160
    n_mels: int = 64
    fmin: float = 50.0
    fmax: float = 8000.0
    top_db: float = 80.0
    n_mfcc: int = 40
    n_chroma: int = 12
    deltas: bool = False
    # Pitch track (pYIN, f0 searched in pitch_fmin..pitch_fmax Hz): prosody the log-mel shows only indirectly.
    pitch: bool = False
    pitch_fmin: float = 65.0
    pitch_fmax: float = 600.0
    normalization: str = "none"
    image_size: tuple[int, int] = field(default=(64, 64))

    def __post_init__(self) -> None:
        # JSON round-trips give a list; keep the value hashable and comparable.
        object.__setattr__(self, "image_size", tuple(int(v) for v in self.image_size))
        self.validate()

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Raise :class:`SerappError` with a plain message when a parameter is out of range."""
        checks: list[tuple[bool, str]] = [
            (self.kind in FEATURE_KINDS, f"unknown feature kind {self.kind!r} (known: {', '.join(FEATURE_KINDS)})"),
            (8000 <= self.sample_rate <= 48000, f"sample_rate must be 8000-48000 Hz, got {self.sample_rate}"),
            (0.5 <= self.duration_s <= 30.0, f"duration_s must be 0.5-30 s, got {self.duration_s}"),
            (self.n_fft >= 64, f"n_fft must be >= 64, got {self.n_fft}"),
            (0 < self.win_length <= self.n_fft, f"win_length must be in 1..n_fft, got {self.win_length}"),
            (0 < self.hop_length <= self.win_length, f"hop_length must be in 1..win_length, got {self.hop_length}"),
            (8 <= self.n_mels <= 256, f"n_mels must be 8-256, got {self.n_mels}"),
            (0 <= self.fmin < self.fmax <= self.sample_rate / 2,
             f"need 0 <= fmin < fmax <= sample_rate/2, got fmin={self.fmin}, fmax={self.fmax}"),
            (self.top_db > 0, f"top_db must be positive, got {self.top_db}"),
            (1 <= self.n_mfcc <= self.n_mels, f"n_mfcc must be 1..n_mels, got {self.n_mfcc}"),
            (1 <= self.n_chroma <= 48, f"n_chroma must be 1-48, got {self.n_chroma}"),
            (self.normalization in NORMALISATIONS,
             f"normalization must be one of {', '.join(NORMALISATIONS)}, got {self.normalization!r}"),
            (len(self.image_size) == 2 and min(self.image_size) >= 32 and max(self.image_size) <= 512,
             f"image_size must be two sizes in 32-512, got {self.image_size}"),
            (not self.pitch or self.kind in PITCH_KINDS,
             f"pitch works with the {', '.join(PITCH_KINDS)} kinds, not {self.kind!r}"),
            (0 < self.pitch_fmin < self.pitch_fmax <= self.sample_rate / 4,
             f"need 0 < pitch_fmin < pitch_fmax <= sample_rate/4, got {self.pitch_fmin}, {self.pitch_fmax}"),
            (not self.pitch or self.sample_rate / self.pitch_fmin <= self.n_fft // 2,
             f"pitch_fmin {self.pitch_fmin} Hz has a period longer than half of n_fft ({self.n_fft} samples)"),
            (self.trim_top_db > 0, f"trim_top_db must be positive, got {self.trim_top_db}"),
            (-60.0 <= self.target_dbfs <= 0.0, f"target_dbfs must be -60..0 dBFS, got {self.target_dbfs}"),
            (self.kind != "whisper_logmel" or all(getattr(self, k) == v for k, v in WHISPER_LOGMEL.items()),
             "the whisper_logmel kind needs " + ", ".join(f"{k}={v:g}" for k, v in WHISPER_LOGMEL.items())),
        ]
        require(checks, self.KIND)

    # ------------------------------------------------------------------ derived sizes
    @property
    def n_samples(self) -> int:
        """Samples in one analysis window at ``sample_rate``."""
        return round(self.duration_s * self.sample_rate)

    @property
    def n_frames(self) -> int:
        """STFT frames in one window (centred frames, as librosa computes them)."""
        return 1 + self.n_samples // self.hop_length

    @property
    def n_stats(self) -> int:
        """Length of the stats vector: mean and std of MFCC, chroma, log-mel, ZCR and RMS (and pitch rows)."""
        return 2 * (self.n_mfcc + self.n_chroma + self.n_mels + 2 + self.n_pitch_rows)

    @property
    def n_pitch_rows(self) -> int:
        """Rows the pitch track adds per frame: log-f0 and voicing, or none."""
        return 2 if self.pitch else 0

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one example's features (no batch axis)."""
        if self.kind == "logmel":
            return (self.n_frames, self.n_mels, (3 if self.deltas else 1) + self.n_pitch_rows)
        if self.kind == "mfcc":
            return (self.n_frames, self.n_mfcc)
        if self.kind == "frames":
            return (self.n_frames, 2 + self.n_pitch_rows)
        if self.kind == "stats":
            return (self.n_stats,)
        if self.kind == "whisper_logmel":
            return (self.n_samples // self.hop_length, self.n_mels)  # Whisper drops the last centred frame
        return (self.image_size[0], self.image_size[1], 3)

    @property
    def hash(self) -> str:
        """Stable 16-hex-digit hash of the spec and the feature code version (cache key)."""
        # canonical compact JSON: the same spec always gives the same string
        payload = f"v{FEATURES_VERSION}:{self.to_json()}".encode()
        return hashlib.sha256(payload).hexdigest()[:16]
