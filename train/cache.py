"""The trainer's feature cache: features and prepared 3-s waveforms per clip, computed once, in parallel.

Entries are keyed by the feature spec's hash and the file's identity (:func:`file_identity`: its size and the
SHA-256 of its contents), so an edited or replaced file and a changed spec are recomputed, and nothing else is: a
corpus copied again (new modification times) or moved keeps its entries. Each entry is one ``.npy``
file (read with ``allow_pickle=False``) written atomically (temp file + rename), under::

    <cache dir>/<spec.hash>/{features,audio}/<key[:2]>/<key>.npy     (and errors/<key>.txt for bad files)

The cache dir (:func:`cache_dir`) is ``$SERAPP_CACHE`` if set, else ``serapp`` in the user's cache folder
(``$XDG_CACHE_HOME`` or ``~/.cache``), never inside the checkout or the install. A file that cannot be decoded is
reported (logged with its path) and skipped, never stopping extraction; the reason is cached too, so a warm
run decodes no audio at all. Audio is decoded by :func:`serapp.engine.audio.load` and features computed by
:mod:`serapp.engine.features` exactly as :func:`serapp.engine.features.compute` does.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from tqdm import tqdm

from serapp.atomic import replacing
from serapp.engine import audio as engine_audio
from serapp.engine import features as engine_features
from serapp.engine.spec import FeatureSpec
from serapp.errors import SerappError

from .corpora import Clip

log = logging.getLogger(__name__)

CACHE_ENV_VAR = "SERAPP_CACHE"
FEATURES, AUDIO = "features", "audio"
# Below this many clips to compute, starting worker processes costs more than it saves.
_MIN_PARALLEL = 16


def cache_dir() -> Path:
    """The trainer's cache folder (features, prepared audio, Whisper embeddings): ``$SERAPP_CACHE`` if set, else
    ``$XDG_CACHE_HOME/serapp``, else ``~/.cache/serapp``. A cache from before (``cache/`` in a checkout) stays
    usable by pointing ``SERAPP_CACHE`` at it."""
    value = os.environ.get(CACHE_ENV_VAR)
    if value:
        return Path(value).expanduser()
    # XDG: an unset, empty or relative XDG_CACHE_HOME is ignored.
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "serapp"


@dataclass(frozen=True, eq=False)
class Extracted:
    """What :func:`extract` returns.

    ``clips``: the clips kept (input order), ``kept``: bool mask over the input clips, shape ``(n_input,)``;
    ``features``: float32 ``(n_kept, *spec.shape)`` or None; ``audio``: prepared waveforms, float16
    ``(n_kept, spec.n_samples)`` at ``spec.sample_rate`` Hz, or None; ``errors``: (path, reason) per skipped clip.
    """

    clips: list[Clip]
    kept: np.ndarray
    features: np.ndarray | None
    audio: np.ndarray | None
    errors: list[tuple[Path, str]]


@dataclass(frozen=True)
class _Entry:
    """Where one clip's cached results live (one file per wanted kind, and the error note)."""

    source: str
    outputs: dict[str, str]  # kind -> .npy path
    error: str


def file_digest(path: Path) -> str:
    """SHA-256 of a file's contents (16 hex digits), read in 1-MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()[:16]


@functools.lru_cache(maxsize=1 << 16)
def _digest_of(resolved: str, size: int, mtime_ns: int) -> str:
    """:func:`file_digest`, read once per process for a file that has not changed (size and mtime in the key)."""
    del size, mtime_ns  # only part of the memo's key
    return file_digest(Path(resolved))


def file_identity(path: Path) -> str:
    """A clip file's identity for the caches: its size and contents' digest, not its path or modification time
    (the shared corpora are copied afresh for each session: keyed by mtime, every cached entry was lost each time).
    OSError for a missing or unreadable file."""
    resolved = path.resolve()
    st = resolved.stat()
    return f"{st.st_size}:{_digest_of(str(resolved), st.st_size, st.st_mtime_ns)}"


def file_key(path: Path, namespace: str) -> str:
    """Cache key (32 hex digits) of a file's identity within ``namespace`` (a spec's or a store's hash)."""
    return hashlib.sha256(f"{namespace}\0{file_identity(path)}".encode()).hexdigest()[:32]


def _entry(root: Path, key: str, kinds: Sequence[str], source: Path) -> _Entry:
    outputs = {kind: str(root / kind / key[:2] / f"{key}.npy") for kind in kinds}
    return _Entry(str(source), outputs, str(root / "errors" / key[:2] / f"{key}.txt"))


def _atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    with replacing(path) as tmp, open(tmp, "wb") as f:
        write(f)


def _save_array(path: str, value: np.ndarray) -> None:
    _atomic_write(Path(path), lambda f: np.save(f, value, allow_pickle=False))


def _load_array(path: str, shape: tuple[int, ...]) -> np.ndarray | None:
    """A cached array of the expected shape, or None when absent or damaged (then it is recomputed)."""
    try:
        value = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    return value if value.shape == shape else None


def _compute(entry: _Entry, spec: FeatureSpec) -> tuple[dict[str, np.ndarray], str | None]:
    """Decode, prepare and featurise one file; write its cache entry. Returns (arrays by kind, error or None)."""
    try:
        y = engine_audio.load(entry.source, spec.sample_rate)
        prepared = engine_features.prepare_batch([y], spec)  # (1, n_samples), as features.compute does
        out: dict[str, np.ndarray] = {}
        if AUDIO in entry.outputs:
            out[AUDIO] = prepared[0].astype(np.float16)
        if FEATURES in entry.outputs:
            out[FEATURES] = engine_features.features_from_prepared(prepared, spec)[0]
    except SerappError as exc:
        message = str(exc)
    except Exception as exc:  # a damaged file must not stop a corpus-wide extraction
        message = f"{entry.source}: {type(exc).__name__}: {exc}"
    else:
        for kind, value in out.items():
            _save_array(entry.outputs[kind], value)
        return out, None
    _atomic_write(Path(entry.error), lambda f: f.write(message.encode()))
    return {}, message


def _compute_chunk(chunk: list[tuple[int, _Entry]], spec_json: str
                   ) -> list[tuple[int, dict[str, np.ndarray], str | None]]:
    """Worker-process entry point: :func:`_compute` for each (index, entry)."""
    spec = FeatureSpec.from_json(spec_json)
    return [(i, *_compute(entry, spec)) for i, entry in chunk]


def _run_parallel(pending: list[tuple[int, _Entry]], spec: FeatureSpec, workers: int, chunk_size: int,
                  bar: tqdm) -> list[tuple[int, dict[str, np.ndarray], str | None]]:
    chunks = [pending[i:i + chunk_size] for i in range(0, len(pending), chunk_size)]
    results: list[tuple[int, dict[str, np.ndarray], str | None]] = []
    # spawn: the trainer may have TensorFlow threads running, which fork would copy in a broken state.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(chunks)), mp_context=context) as pool:
        futures: set[Future] = {pool.submit(_compute_chunk, chunk, spec.to_json()) for chunk in chunks}
        try:
            while futures:
                done, futures = wait(futures, return_when=FIRST_COMPLETED)
                for future in done:
                    part = future.result()
                    results += part
                    bar.update(len(part))
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return results


def extract(clips: Sequence[Clip], spec: FeatureSpec, *, features: bool = True, audio: bool = False,
            cache: Path | None = None, workers: int | None = None, chunk_size: int = 16,
            progress: bool = True) -> Extracted:
    """Features and/or prepared audio of ``clips``, from the cache or computed (in parallel) and cached.

    ``workers``: processes (default: all cores; 1 computes in this process). Bad files are skipped and
    reported; see :class:`Extracted` for shapes. Raises :class:`SerappError` when neither output is asked for.
    """
    kinds = [kind for kind, wanted in ((FEATURES, features), (AUDIO, audio)) if wanted]
    if not kinds:
        raise SerappError("Nothing to extract: ask for features, audio or both.")
    if chunk_size < 1:
        raise SerappError(f"chunk_size must be at least 1, got {chunk_size}.")
    root = (Path(cache) if cache is not None else cache_dir()) / spec.hash
    shapes = {FEATURES: spec.shape, AUDIO: (spec.n_samples,)}
    dtypes = {FEATURES: np.float32, AUDIO: np.float16}
    arrays = {kind: np.zeros((len(clips), *shapes[kind]), dtype=dtypes[kind]) for kind in kinds}
    errors: dict[int, str] = {}
    pending: list[tuple[int, _Entry]] = []
    for i, clip in enumerate(clips):
        try:
            entry = _entry(root, file_key(Path(clip.path), spec.hash), kinds, Path(clip.path))
        except OSError as exc:
            errors[i] = f"{clip.path}: cannot read the file ({exc.strerror or exc})."
            continue
        if os.path.exists(entry.error):
            errors[i] = Path(entry.error).read_text(encoding="utf-8", errors="replace")
            continue
        cached = {kind: _load_array(path, shapes[kind]) for kind, path in entry.outputs.items()}
        if any(value is None for value in cached.values()):
            pending.append((i, entry))
            continue
        for kind, value in cached.items():
            arrays[kind][i] = value
    if pending:
        n_workers = workers or os.cpu_count() or 1
        with tqdm(total=len(pending), desc=f"{'+'.join(kinds)} ({spec.kind})", unit="clip",
                  disable=not progress) as bar:
            if n_workers == 1 or len(pending) < _MIN_PARALLEL:
                results = []
                for i, entry in pending:
                    results.append((i, *_compute(entry, spec)))
                    bar.update(1)
            else:
                results = _run_parallel(pending, spec, n_workers, chunk_size, bar)
        for i, values, error in results:
            if error is not None:
                errors[i] = error
            for kind, value in values.items():
                arrays[kind][i] = value
    for i in sorted(errors):
        log.warning("skipped a clip: %s", errors[i])
    kept = np.ones(len(clips), dtype=bool)
    kept[list(errors)] = False
    if not kept.all():
        arrays = {kind: value[kept] for kind, value in arrays.items()}
    return Extracted(
        clips=[c for c, k in zip(clips, kept, strict=True) if k],
        kept=kept,
        features=arrays.get(FEATURES),
        audio=arrays.get(AUDIO),
        errors=[(Path(clips[i].path), errors[i]) for i in sorted(errors)],
    )


def features(clips: Sequence[Clip], spec: FeatureSpec, **options: object) -> Extracted:
    """Features only: ``Extracted.features`` is float32 ``(n_kept, *spec.shape)``. Options as :func:`extract`."""
    return extract(clips, spec, features=True, audio=False, **options)  # type: ignore[arg-type]


def prepared_audio(clips: Sequence[Clip], spec: FeatureSpec, **options: object) -> Extracted:
    """Prepared waveforms only: ``Extracted.audio`` is float16 ``(n_kept, spec.n_samples)``."""
    return extract(clips, spec, features=False, audio=True, **options)  # type: ignore[arg-type]
