"""Data augmentation for training batches: audio-level on prepared waveforms, spectrogram-level on features.

Everything here is a small pure function of its inputs and a seeded :class:`numpy.random.Generator`, so a
batch augments the same way on every run. Augmentation is applied on the fly to *training* batches only
(see ``serapp_train.batches``), after the speaker split, never to validation or test data.

Audio functions take prepared waveforms ``(batch, n_samples)`` (or one ``(n_samples,)``) of float32 in
[-1, 1] at the spec's sample rate. Feature functions take ``(batch, *spec.shape)`` arrays.
Cheap transforms (noise, gain, shift, masks, roll) are vectorised over the batch; the two costly ones
(time stretch, pitch shift, ~8 ms per 3-s clip each) are drawn per example and capped by a per-batch budget.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from serapp.engine.spec import FeatureSpec
from serapp.errors import SerappError
from serapp.jsonconfig import JsonConfig, require

NOISE_COLORS: tuple[str, ...] = ("white", "pink")
_EPS = 1e-12


# ---------------------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class AugmentConfig(JsonConfig):
    """Which augmentations to apply, with what probability (per example) and range.

    Ranges are ``(low, high)`` pairs drawn uniformly. Units: dB for SNR and gain, seconds for shifts,
    a rate factor for stretch (>1 faster), semitones for pitch, frames/bins for masks and roll.
    """

    KIND: ClassVar[str] = "augmentation config"
    # Options added after augmented views were first cached: at their default (off) they stay out of
    # :meth:`cache_text`, so the views of a config that does not use them keep their cache.
    LATER_OPTIONS: ClassVar[tuple[str, ...]] = ("codec_share",)

    # audio level (prepared waveforms)
    p_noise: float = 0.0
    snr_db: tuple[float, float] = (10.0, 30.0)
    pink_share: float = 0.5  # share of noisy examples that get pink (speech/babble-like) rather than white noise
    p_gain: float = 0.0
    gain_db: tuple[float, float] = (-6.0, 6.0)
    p_shift: float = 0.0
    max_shift_s: float = 0.25
    p_stretch: float = 0.0
    stretch_rate: tuple[float, float] = (0.9, 1.1)
    p_pitch: float = 0.0
    pitch_semitones: tuple[float, float] = (-2.0, 2.0)
    slow_budget: float = 0.25  # at most this share of a batch gets a stretch or pitch shift (cost cap)
    # The live display scores an utterance while it grows: train on its beginnings too. A chosen clip keeps only
    # the first partial_s seconds of its speech (drawn uniformly), centred again as preparation centres a clip.
    p_partial: float = 0.0
    partial_s: tuple[float, float] = (0.5, 3.0)
    # The rooms and devices users speak through: synthetic room reverberation (an exponentially decaying noise
    # response with a reverberation time drawn from rt60_s), then, after the noise, a device chain: a laptop
    # microphone (band-limited to LAPTOP_BAND_HZ) or, for telephone_share of them, a telephone (TELEPHONE_BAND_HZ
    # at 8 kHz with 8-bit mu-law); for codec_share of them, a lossy codec at a low rate instead (MP3 or Opus, one
    # of CODECS at random: a voice message, a stream).
    p_reverb: float = 0.0
    rt60_s: tuple[float, float] = (0.2, 0.9)
    p_device: float = 0.0
    telephone_share: float = 0.5
    codec_share: float = 0.0
    # spectrogram level (features)
    p_specaugment: float = 0.0
    time_masks: int = 2
    max_time_mask: int = 20
    freq_masks: int = 2
    max_freq_mask: int = 8
    p_roll: float = 0.0
    max_roll: int = 20
    p_feature_noise: float = 0.0
    feature_noise_std: float = 0.05  # relative to each example's feature standard deviation

    def __post_init__(self) -> None:
        for name in ("snr_db", "gain_db", "stretch_rate", "pitch_semitones", "partial_s", "rt60_s"):
            object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))
        self.validate()

    def validate(self) -> None:
        """Raise :class:`SerappError` when a probability, range or size is out of bounds."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            is_share = f.name.startswith("p_") or f.name in ("pink_share", "slow_budget", "telephone_share",
                                                                   "codec_share")
            require([(not is_share or 0.0 <= value <= 1.0, f"{f.name} must be within 0-1, got {value}"),
                     (not isinstance(value, tuple) or (len(value) == 2 and value[0] <= value[1]),
                      f"{f.name} must be a (low, high) pair, got {value}")], self.KIND)
        checks = [
            (self.stretch_rate[0] > 0.5 and self.stretch_rate[1] < 2.0, "stretch_rate must lie within 0.5-2"),
            (abs(self.pitch_semitones[0]) <= 12 and abs(self.pitch_semitones[1]) <= 12,
             "pitch_semitones must lie within -12..12"),
            (0.0 <= self.max_shift_s <= 2.0, "max_shift_s must be 0-2 s"),
            (self.partial_s[0] >= 0.1 and self.partial_s[1] <= 30.0, "partial_s must lie within 0.1-30 s"),
            (self.rt60_s[0] >= 0.05 and self.rt60_s[1] <= 3.0, "rt60_s must lie within 0.05-3 s"),
            (min(self.time_masks, self.freq_masks, self.max_time_mask, self.max_freq_mask, self.max_roll) >= 0,
             "mask counts, mask widths and max_roll must be >= 0"),
            (self.feature_noise_std >= 0.0, "feature_noise_std must be >= 0"),
        ]
        require(checks, self.KIND)

    def cache_text(self) -> str:
        """The config as compact JSON for cache keys: every field but :attr:`LATER_OPTIONS` left at their default."""
        defaults = type(self)()
        fields = {k: v for k, v in self.to_dict().items()
                  if k not in self.LATER_OPTIONS or v != getattr(defaults, k)}
        return json.dumps(fields, sort_keys=True, separators=(",", ":"))

    @property
    def audio_enabled(self) -> bool:
        """True when any waveform-level augmentation is on (training then needs prepared audio, not cache)."""
        return max(self.p_noise, self.p_gain, self.p_shift, self.p_stretch, self.p_pitch, self.p_partial,
                   self.p_reverb, self.p_device) > 0.0

    @property
    def features_enabled(self) -> bool:
        """True when any feature-level augmentation is on."""
        return max(self.p_specaugment, self.p_roll, self.p_feature_noise) > 0.0

    @classmethod
    def preset(cls, name: str) -> AugmentConfig:
        """A named preset (``none``, ``spec``, ``light``, ``strong``) or a JSON file path."""
        if name in PRESETS:
            return cls.from_dict(PRESETS[name])
        path = Path(name)
        if path.suffix == ".json":
            try:
                return cls.from_dict(json.loads(path.read_text()))
            except OSError as exc:
                raise SerappError(f"{path}: cannot read the augmentation config ({exc.strerror}).") from exc
            except json.JSONDecodeError as exc:
                raise SerappError(f"{path}: the augmentation config is not valid JSON ({exc.msg}).") from exc
        raise SerappError(f"Unknown augmentation preset {name!r}: use one of {', '.join(PRESETS)} "
                          "or a .json file with AugmentConfig fields.")


PRESETS: dict[str, dict[str, Any]] = {
    "none": {},
    # Feature-level only: free (vectorised), works with cached features.
    "spec": {"p_specaugment": 0.5, "p_roll": 0.5, "p_feature_noise": 0.3},
    # Cheap audio transforms plus SpecAugment; no stretch/pitch.
    "light": {"p_noise": 0.3, "p_gain": 0.3, "p_shift": 0.3, "p_specaugment": 0.5},
    "strong": {"p_noise": 0.5, "p_gain": 0.5, "p_shift": 0.5, "p_stretch": 0.2, "p_pitch": 0.2,
               "p_specaugment": 0.5, "p_roll": 0.3},
}


# ---------------------------------------------------------------------------------------------- audio
def _as_batch(y: np.ndarray) -> tuple[np.ndarray, bool]:
    y = np.asarray(y, dtype=np.float32)
    if y.ndim not in (1, 2):
        raise SerappError(f"Expected audio of shape (n_samples,) or (batch, n_samples), got {y.shape}.")
    return (y[None, :], True) if y.ndim == 1 else (y, False)


def pink_noise(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Unit-power pink (1/f power) noise, ``(batch, n_samples)`` float32: white noise shaped in frequency.

    Its energy sits at low frequencies like a crowd of voices, so it masks speech more than white noise
    at the same SNR.
    """
    batch, n = shape
    spectrum = np.fft.rfft(rng.standard_normal((batch, n)), axis=-1)
    scale = 1.0 / np.sqrt(np.maximum(np.arange(spectrum.shape[-1]), 1.0))
    noise = np.fft.irfft(spectrum * scale, n=n, axis=-1)
    return (noise / np.sqrt(np.mean(noise**2, axis=-1, keepdims=True) + _EPS)).astype(np.float32)


def add_noise_snr(y: np.ndarray, snr_db: float | np.ndarray, rng: np.random.Generator,
                  color: str = "white") -> np.ndarray:
    """Add noise so that signal power / noise power equals ``snr_db`` dB (power over the whole clip).

    ``y``: ``(n_samples,)`` or ``(batch, n_samples)``; ``snr_db`` a scalar or one value per example;
    ``color``: ``white`` or ``pink``. Returns float32 of the same shape (not clipped, so the SNR is exact).
    A silent example stays silent: there is no signal level to set the noise against.
    """
    if color not in NOISE_COLORS:
        raise SerappError(f"Unknown noise colour {color!r}: use one of {', '.join(NOISE_COLORS)}.")
    batch, single = _as_batch(y)
    if batch.shape[1] == 0:
        return np.asarray(y, dtype=np.float32)
    snr = np.broadcast_to(np.asarray(snr_db, dtype=np.float64), (batch.shape[0],))
    if color == "white":
        noise = rng.standard_normal(batch.shape).astype(np.float32)
        noise /= np.sqrt(np.mean(noise**2, axis=-1, keepdims=True) + _EPS)
    else:
        noise = pink_noise(batch.shape, rng)
    signal_power = np.mean(np.square(batch, dtype=np.float64), axis=-1)
    noise_rms = np.sqrt(signal_power / 10.0 ** (snr / 10.0))
    out = (batch + noise * noise_rms[:, None].astype(np.float32)).astype(np.float32)
    return out[0] if single else out


def apply_gain(y: np.ndarray, db: float | np.ndarray) -> np.ndarray:
    """Scale by ``db`` decibels (scalar or one per example), clipped to [-1, 1] like a real converter.

    ``y``: ``(n_samples,)`` or ``(batch, n_samples)``. Returns float32 of the same shape.
    """
    batch, single = _as_batch(y)
    factor = 10.0 ** (np.broadcast_to(np.asarray(db, dtype=np.float32), (batch.shape[0],)) / 20.0)
    out = np.clip(batch * factor[:, None], -1.0, 1.0).astype(np.float32)
    return out[0] if single else out


def shift_along(x: np.ndarray, shifts: np.ndarray, axis: int = 1, wrap: bool = False) -> np.ndarray:
    """Shift each example by its own whole number of steps along ``axis`` (positive = later).

    ``x``: ``(batch, ...)``; ``shifts``: ``(batch,)`` ints. With ``wrap`` the content rolls round
    (a circular roll); without, vacated steps are zero. Returns a new array.
    """
    moved = np.moveaxis(x, axis, 1)
    length = moved.shape[1]
    out = np.empty_like(moved)
    # One slice copy per example: a whole-batch gather of (batch, length) indices cost several times more on audio.
    for i, shift in enumerate(np.asarray(shifts, dtype=np.int64)):
        s = int(shift) % length if wrap and length else max(-length, min(length, int(shift)))
        if s >= 0:
            out[i, s:] = moved[i, :length - s]
            out[i, :s] = moved[i, length - s:] if wrap else 0
        else:
            out[i, :length + s] = moved[i, -s:]
            out[i, length + s:] = 0
    return np.moveaxis(out, 1, axis)


def time_stretch(y: np.ndarray, rate: float, sample_rate: int) -> np.ndarray:
    """Change tempo by ``rate`` (>1 faster) keeping pitch; length kept (zero-padded or cut). ``(n,)`` -> ``(n,)``."""
    from audiomentations import TimeStretch

    t = TimeStretch(min_rate=rate, max_rate=rate, leave_length_unchanged=True, p=1.0)
    return t(np.asarray(y, dtype=np.float32), sample_rate=sample_rate).astype(np.float32)


def pitch_shift(y: np.ndarray, semitones: float, sample_rate: int) -> np.ndarray:
    """Shift pitch by ``semitones`` keeping tempo and length. ``(n,)`` -> ``(n,)``."""
    from audiomentations import PitchShift

    t = PitchShift(min_semitones=semitones, max_semitones=semitones, p=1.0)
    return t(np.asarray(y, dtype=np.float32), sample_rate=sample_rate).astype(np.float32)


def keep_prefix(y: np.ndarray, seconds: float, sample_rate: int) -> np.ndarray:
    """A prepared clip ``(n,)`` whose speech (the span between its first and last non-zero sample) is cut to
    its first ``seconds`` and centred again with zeros, as :func:`serapp.engine.preprocess.fix_length` centres
    a short utterance. A clip without speech is returned unchanged."""
    from serapp.engine.preprocess import fix_length

    nonzero = np.flatnonzero(y)
    if nonzero.size == 0:
        return y
    start = int(nonzero[0])
    end = min(int(nonzero[-1]) + 1, start + max(1, round(seconds * sample_rate)))
    return fix_length(y[start:end], y.shape[-1])


LAPTOP_BAND_HZ: tuple[float, float] = (200.0, 6000.0)
TELEPHONE_BAND_HZ: tuple[float, float] = (300.0, 3400.0)
TELEPHONE_RATE = 8000
MU = 255.0  # G.711 mu-law


def band_limit(y: np.ndarray, band_hz: tuple[float, float], sample_rate: int, *, order: int = 4) -> np.ndarray:
    """``y`` ``(n,)`` through a causal Butterworth band-pass (``order`` per edge), as a microphone and its
    electronics shape it. float32."""
    from scipy.signal import butter, sosfilt

    high = min(band_hz[1], 0.45 * sample_rate)
    sos = butter(order, (band_hz[0], high), btype="bandpass", fs=sample_rate, output="sos")
    return sosfilt(sos, y).astype(np.float32)


def mu_law(y: np.ndarray, *, bits: int = 8) -> np.ndarray:
    """``y`` in [-1, 1] compressed with G.711's mu-law, quantised to ``bits`` and expanded again (float32)."""
    x = np.clip(y, -1.0, 1.0)
    compressed = np.sign(x) * np.log1p(MU * np.abs(x)) / np.log1p(MU)
    levels = 2 ** (bits - 1)
    compressed = np.round(compressed * levels) / levels
    return (np.sign(compressed) * np.expm1(np.abs(compressed) * np.log1p(MU)) / MU).astype(np.float32)


def telephone(y: np.ndarray, sample_rate: int) -> np.ndarray:
    """``y`` ``(n,)`` as a telephone line carries it: :data:`TELEPHONE_BAND_HZ`, down to 8 kHz, 8-bit mu-law,
    and back to ``sample_rate`` (same length). float32."""
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(TELEPHONE_RATE, sample_rate)
    narrow = resample_poly(band_limit(y, TELEPHONE_BAND_HZ, sample_rate), TELEPHONE_RATE // g, sample_rate // g)
    wide = resample_poly(mu_law(narrow), sample_rate // g, TELEPHONE_RATE // g)
    out = np.zeros_like(y, dtype=np.float32)
    out[:min(len(y), len(wide))] = wide[:len(y)]
    return out


# Lossy codecs a recording may have been through (a voice message, a low-rate stream), by libsndfile format and
# subtype, at libsndfile's compression level CODEC_LEVEL: at 16 kHz about 20 kbit/s for MP3 and 11 kbit/s for
# Opus (1.0 is refused). The corpora are Opus files already, at higher rates.
CODECS: dict[str, tuple[str, str]] = {"mp3": ("MP3", "MPEG_LAYER_III"), "opus": ("OGG", "OPUS")}
CODEC_LEVEL = 0.99


def lossy_codec(y: np.ndarray, codec: str, sample_rate: int) -> np.ndarray:
    """``y`` ``(n,)`` (in [-1, 1]) encoded with one of :data:`CODECS` at :data:`CODEC_LEVEL` and decoded again, in
    memory; same length (libsndfile trims the codec's delay). float32."""
    import io

    import soundfile as sf

    fmt, subtype = CODECS[codec]
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(y, -1.0, 1.0).astype(np.float32), sample_rate, format=fmt, subtype=subtype,
             compression_level=CODEC_LEVEL)
    buffer.seek(0)
    decoded, _ = sf.read(buffer, dtype="float32")
    out = np.zeros(y.shape[0], np.float32)
    out[:min(y.shape[0], decoded.shape[0])] = decoded[:y.shape[0]]
    return out


DEVICES: tuple[str, ...] = ("laptop", "telephone", *CODECS)


def device_chain(y: np.ndarray, device: str, sample_rate: int) -> np.ndarray:
    """``y`` ``(n,)`` through one of :data:`DEVICES`: a laptop microphone's band, a telephone line, or a lossy
    codec at a low rate (:data:`CODECS`). float32."""
    if device == "laptop":
        return band_limit(y, LAPTOP_BAND_HZ, sample_rate)
    if device == "telephone":
        return telephone(y, sample_rate)
    if device in CODECS:
        return lossy_codec(y, device, sample_rate)
    raise SerappError(f"Unknown device {device!r}: one of {', '.join(DEVICES)}.")


def reverberate(y: np.ndarray, rt60_s: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """``y`` ``(n,)`` in a synthetic room: convolved with a direct path plus exponentially decaying noise that
    falls 60 dB in ``rt60_s`` seconds; same length and RMS as ``y``. float32."""
    from scipy.signal import fftconvolve

    t = np.arange(max(2, round(rt60_s * sample_rate))) / sample_rate
    response = rng.standard_normal(t.size) * np.exp(-6.9 * t / rt60_s) * 0.3  # 6.9 = ln(1000): -60 dB
    response[0] = 1.0
    wet = fftconvolve(y, response)[:len(y)]
    rms_in, rms_out = float(np.sqrt(np.mean(np.square(y)))), float(np.sqrt(np.mean(np.square(wet))))
    return (wet * (rms_in / rms_out) if rms_out > 0 else wet).astype(np.float32)


def _draw(rng: np.random.Generator, p: float, n: int) -> np.ndarray:
    """Boolean ``(n,)``: which examples get a transform applied with probability ``p``."""
    return rng.random(n) < p


def augment_audio(batch: np.ndarray, config: AugmentConfig, rng: np.random.Generator,
                  sample_rate: int) -> np.ndarray:
    """Audio augmentation of prepared waveforms ``(batch, n_samples)`` -> same shape, float32.

    Order: utterance beginnings (:func:`keep_prefix`), stretch / pitch (budgeted), shift, gain, room
    reverberation, noise (not coloured by the transforms before it), then the device chain (laptop microphone,
    telephone or lossy codec), which shapes the room's noise as it shapes the voice.
    """
    out, _ = _as_batch(batch)
    out = out.copy()
    n = out.shape[0]
    lengths = rng.uniform(*config.partial_s, size=n)
    for i in np.flatnonzero(_draw(rng, config.p_partial, n)):
        out[i] = keep_prefix(out[i], float(lengths[i]), sample_rate)
    stretch, pitch = _draw(rng, config.p_stretch, n), _draw(rng, config.p_pitch, n)
    slow = np.flatnonzero(stretch | pitch)
    budget = int(np.floor(config.slow_budget * n))
    if slow.size > budget:  # cap the cost: keep a random subset of the chosen examples
        keep = np.zeros(n, dtype=bool)
        keep[rng.choice(slow, size=budget, replace=False)] = True
        stretch &= keep
        pitch &= keep
    rates = rng.uniform(*config.stretch_rate, size=n)
    steps = rng.uniform(*config.pitch_semitones, size=n)
    for i in np.flatnonzero(stretch):
        out[i] = time_stretch(out[i], float(rates[i]), sample_rate)
    for i in np.flatnonzero(pitch):
        out[i] = pitch_shift(out[i], float(steps[i]), sample_rate)

    max_shift = round(config.max_shift_s * sample_rate)
    shifts = rng.integers(-max_shift, max_shift + 1, size=n) * _draw(rng, config.p_shift, n)
    if shifts.any():
        out = shift_along(out, shifts, axis=1)
    gains = rng.uniform(*config.gain_db, size=n) * _draw(rng, config.p_gain, n)
    if gains.any():
        out = apply_gain(out, gains)
    if config.p_reverb > 0:  # drawn only when asked, so older configs replay the same random stream
        rt60 = rng.uniform(*config.rt60_s, size=n)
        for i in np.flatnonzero(_draw(rng, config.p_reverb, n)):
            out[i] = reverberate(out[i], float(rt60[i]), sample_rate, rng)
    noisy = _draw(rng, config.p_noise, n)
    if noisy.any():
        snrs = rng.uniform(*config.snr_db, size=n)
        pink = _draw(rng, config.pink_share, n)
        for color, chosen in (("white", noisy & ~pink), ("pink", noisy & pink)):
            if chosen.any():
                out[chosen] = add_noise_snr(out[chosen], snrs[chosen], rng, color=color)
    if config.p_device > 0:
        phone = _draw(rng, config.telephone_share, n)
        devices = np.where(phone, "telephone", "laptop")
        if config.codec_share > 0:  # drawn only when asked, so older configs replay the same random stream
            codec = _draw(rng, config.codec_share, n)
            devices = np.where(codec, rng.choice(list(CODECS), size=n), devices)
        for i in np.flatnonzero(_draw(rng, config.p_device, n)):
            out[i] = device_chain(out[i], str(devices[i]), sample_rate)
    return out


# ---------------------------------------------------------------------------------------------- features
def feature_axes(spec: FeatureSpec) -> tuple[int | None, int | None]:
    """Batch-array axes ``(time_axis, freq_axis)`` of ``spec``'s features; None where there is no such axis.

    ``logmel``: (batch, T, mels, C); ``mfcc`` and ``frames``: (batch, T, coeffs); ``image``:
    (batch, bins, T, 3); ``stats``: (batch, n) has neither.
    """
    if spec.kind in ("logmel", "mfcc"):
        return 1, 2
    if spec.kind == "frames":
        return 1, None
    if spec.kind == "image":
        return 2, 1
    return None, None


def band_mask(rng: np.random.Generator, batch: int, length: int, n_bands: int, max_width: int) -> np.ndarray:
    """SpecAugment band mask: boolean ``(batch, length)`` with ``n_bands`` bands per example, each of width
    uniform in ``0..max_width`` (clipped to ``length``) at a uniform start. Bands may overlap.
    """
    positions = np.arange(length)[None, :]
    mask = np.zeros((batch, length), dtype=bool)
    for _ in range(n_bands):  # a handful of bands: the loop is over bands, never over examples
        width = rng.integers(0, min(max_width, length) + 1, size=batch)[:, None]
        start = (rng.random(batch)[:, None] * (length - width + 1)).astype(np.int64)
        mask |= (positions >= start) & (positions < start + width)
    return mask


def apply_band_mask(x: np.ndarray, mask: np.ndarray, axis: int, fill: float | np.ndarray) -> np.ndarray:
    """Set ``x`` to ``fill`` where ``mask`` ``(batch, x.shape[axis])`` is true; ``fill`` is a scalar or
    one value per example. Returns a new array.
    """
    shape = [1] * x.ndim
    shape[0], shape[axis] = x.shape[0], x.shape[axis]
    fill_b = np.asarray(fill, dtype=x.dtype).reshape((-1,) + (1,) * (x.ndim - 1)) if np.ndim(fill) else fill
    return np.where(mask.reshape(shape), fill_b, x).astype(x.dtype)


def example_mean(x: np.ndarray) -> np.ndarray:
    """Mean of each example, ``(batch,)``: the SpecAugment fill that carries no level cue."""
    return x.reshape(x.shape[0], -1).mean(axis=1)


def add_feature_noise(x: np.ndarray, rel_std: float | np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Add Gaussian noise with std ``rel_std`` times each example's own std (scalar or ``(batch,)``)."""
    std = x.reshape(x.shape[0], -1).std(axis=1) * np.broadcast_to(rel_std, (x.shape[0],))
    noise = rng.standard_normal(x.shape).astype(x.dtype)
    return (x + noise * std.reshape((-1,) + (1,) * (x.ndim - 1)).astype(x.dtype)).astype(x.dtype)


def augment_features(x: np.ndarray, config: AugmentConfig, rng: np.random.Generator,
                     spec: FeatureSpec) -> np.ndarray:
    """Feature augmentation of ``(batch, *spec.shape)``: SpecAugment masks, circular time roll, Gaussian noise.

    Each is drawn per example with its probability; the batch is processed in whole-array operations.
    Returns a new float32 array of the same shape.
    """
    x = np.asarray(x, dtype=np.float32)
    n = x.shape[0]
    time_axis, freq_axis = feature_axes(spec)
    if time_axis is not None and config.p_roll > 0:
        rolls = rng.integers(-config.max_roll, config.max_roll + 1, size=n) * _draw(rng, config.p_roll, n)
        x = shift_along(x, rolls, axis=time_axis, wrap=True)
    if config.p_specaugment > 0:
        chosen = _draw(rng, config.p_specaugment, n)[:, None]
        fill = example_mean(x)
        for axis, count, width in ((time_axis, config.time_masks, config.max_time_mask),
                                   (freq_axis, config.freq_masks, config.max_freq_mask)):
            if axis is not None and count > 0:
                x = apply_band_mask(x, band_mask(rng, n, x.shape[axis], count, width) & chosen, axis, fill)
    if config.p_feature_noise > 0:
        x = add_feature_noise(x, config.feature_noise_std * _draw(rng, config.p_feature_noise, n), rng)
    return x


def mixup(x: np.ndarray, y: np.ndarray, alpha: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Mixup (Zhang et al. 2018): convex mixes of each example with a shuffled partner.

    ``x``: ``(batch, ...)`` features; ``y``: ``(batch, n_classes)`` one-hot or soft targets; weights
    ``lam ~ Beta(alpha, alpha)`` per example. Returns mixed ``(x, y)`` of the same shapes.
    """
    if alpha <= 0:
        return x, y
    lam = rng.beta(alpha, alpha, size=x.shape[0]).astype(np.float32)
    partner = rng.permutation(x.shape[0])
    lx = lam.reshape((-1,) + (1,) * (x.ndim - 1))
    x_mix = lx * x + (1.0 - lx) * x[partner]
    y_mix = lam[:, None] * y + (1.0 - lam[:, None]) * y[partner]
    return x_mix.astype(np.float32), y_mix.astype(np.float32)
