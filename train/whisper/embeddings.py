"""The frozen Whisper encoder's outputs per clip, computed once and cached, so heads train in minutes.

For each clip: its ``whisper_logmel`` features (through :mod:`serapp_train.cache`, the trainer's feature cache), then
the encoder's every layer (:func:`serapp_train.whisper.encoder.build_encoder` with ``all_layers``), kept as

  - ``meanstd``: each layer's mean and standard deviation over the window's frames, float32
    ``(n_layers + 1, 2 * width)`` (means first): 15 KB a clip for tiny.en;
  - ``frames``: each layer's frames, float16 ``(n_layers + 1, frames, width)``: 576 KB a 3-s clip for tiny.en.

The pooling runs over every frame of the pipeline's window, silence padding included, as a pooling layer inside
an exported model sees it. Entries live under::

    <cache dir>/whisper/<key>/<k[:2]>/<k>.npy      (and manifest.json: what the key stands for)

where ``<cache dir>`` is :func:`serapp_train.cache.cache_dir` (``$SERAPP_CACHE`` or ``~/.cache/serapp``), ``<key>``
hashes the encoder's ``model.bin`` contents, the feature spec, the pooling and :data:`EMBEDDINGS_VERSION`, and
``<k>`` the clip file's identity (:func:`serapp_train.cache.file_identity`: size and contents). Each entry is
written atomically as soon as its batch is encoded: an interrupted run (Ctrl+C) keeps what it finished and the next
run does only the rest. Clips that cannot be decoded are skipped and reported, as :func:`serapp_train.cache.extract`
does.

``python -m serapp_train.whisper.embeddings [--corpora ravdess crema-d ...]`` fills the cache for the corpora.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

import numpy as np
from tqdm import tqdm

from serapp.atomic import replacing
from serapp.engine.spec import WHISPER_LOGMEL, FeatureSpec
from serapp.errors import SerappError, run_command
from serapp.paths import corpora_root

from .. import cache
from ..augment import AugmentConfig
from ..corpora import Clip, scan
from .ctranslate2_reader import MODEL_FILE, CT2Model, find_model_dir

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)

# Bump when the code that turns features into cached values changes, so entries are recomputed.
EMBEDDINGS_VERSION = 1
Pooling = Literal["meanstd", "frames"]
POOLINGS: tuple[str, ...] = ("meanstd", "frames")
DEFAULT_SPEC = FeatureSpec(kind="whisper_logmel", **WHISPER_LOGMEL)  # the pipeline's 3-s window


@dataclass(frozen=True, eq=False)
class Embedded:
    """What :func:`embed` returns: ``clips`` kept (input order), ``kept`` bool mask over the input clips,
    ``values`` ``(n_kept, n_layers + 1, 2 * width)`` float32 (meanstd) or ``(n_kept, n_layers + 1, frames, width)``
    float16 (frames), ``errors`` (path, reason) per skipped clip, and the cache folder ``root``."""

    clips: list[Clip]
    kept: np.ndarray
    values: np.ndarray
    errors: list[tuple[Path, str]]
    root: Path


def pool_mean_std(hidden: np.ndarray) -> np.ndarray:
    """``(..., frames, width)`` -> ``(..., 2 * width)``: mean then standard deviation over the frames."""
    hidden = np.asarray(hidden, dtype=np.float32)
    return np.concatenate([hidden.mean(axis=-2), hidden.std(axis=-2)], axis=-1)


def _save(path: Path, value: np.ndarray) -> None:
    with replacing(path) as tmp, open(tmp, "wb") as f:
        np.save(f, value, allow_pickle=False)


def _load(path: Path, shape: tuple[int, ...]) -> np.ndarray | None:
    """A cached entry of the expected shape, or None when absent or damaged (then it is recomputed)."""
    try:
        value = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    return value if value.shape == shape else None


def _encode(model: keras.Model, x: np.ndarray, pooling: str) -> np.ndarray:
    hidden = np.asarray(model.predict_on_batch(x))  # (B, n_layers + 1, frames, width)
    return pool_mean_std(hidden) if pooling == "meanstd" else hidden.astype(np.float16)


@dataclass(frozen=True, eq=False)
class _Store:
    """An embedding cache folder: its ``root``, the ``key`` naming it, the encoder ``weights`` and the shape of
    one entry."""

    root: Path
    key: str
    weights: CT2Model
    entry_shape: tuple[int, ...]


def _open_store(spec: FeatureSpec, source: str | Path | None, pooling: str, cache_root: Path | None,
                extra: str = "", describe: dict[str, object] | None = None) -> _Store:
    """The cache folder for this encoder (``model.bin`` contents), spec, pooling and ``extra`` (what else decides
    the values, e.g. an augmentation), with its ``manifest.json`` written on first use."""
    if spec.kind != "whisper_logmel":
        raise SerappError(f"The Whisper encoder takes whisper_logmel features, not {spec.kind!r}.")
    model_dir = find_model_dir(source)
    digest = cache.file_digest(model_dir / MODEL_FILE)
    key = hashlib.sha256(f"v{EMBEDDINGS_VERSION}:{digest}:{pooling}:{spec.hash}{extra}".encode()).hexdigest()[:16]
    root = (Path(cache_root) if cache_root is not None else cache.cache_dir()) / "whisper" / key

    from .encoder import encoder_shape, load_encoder_weights  # imports Keras

    weights = load_encoder_weights(model_dir)
    shape = encoder_shape(weights)
    frames = (spec.shape[0] + 1) // 2
    entry_shape = ((shape.n_layers + 1, 2 * shape.width) if pooling == "meanstd"
                   else (shape.n_layers + 1, frames, shape.width))
    manifest = root / "manifest.json"
    if not manifest.exists():
        text = json.dumps({"model_dir": str(model_dir), "model_sha256_16": digest, "pooling": pooling,
                           "entry_shape": entry_shape, "version": EMBEDDINGS_VERSION, "spec": spec.to_dict(),
                           **(describe or {})}, indent=1)
        with replacing(manifest) as tmp:
            tmp.write_text(text, encoding="utf-8")
    return _Store(root, key, weights, entry_shape)


# An entry's place in the values being filled: a clip's row (``embed``), or a clip's (row, view) (``embed_views``).
Key = TypeVar("Key", int, tuple[int, int])
# What a chunk's preparation gives: which of its entries could be prepared, and the encoder inputs
# ``(batch, *spec.shape)`` of a slice of those prepared (in order).
Prepared = tuple[list[bool], Callable[[slice], np.ndarray]]


def _cached_encode(values: np.ndarray, entries: Sequence[tuple[Key, Path]], prepare: Callable[[list[Key]], Prepared],
                   *, store: _Store, spec: FeatureSpec, pooling: str, batch_size: int, chunk_size: int, desc: str,
                   unit: str, progress: bool) -> None:
    """Fill ``values[key]`` for each ``(key, cache path)`` of ``entries``: from the cache where an entry is stored,
    else through the encoder, in chunks of ``chunk_size`` entries (``prepare`` decodes a chunk at once, which
    bounds memory) and batches of ``batch_size``, each value saved as soon as it is computed, so an interrupted
    run resumes where it stopped. Entries ``prepare`` rejects are left as they are (the caller records why)."""
    pending = []
    for key, path in entries:
        cached = _load(path, store.entry_shape)
        if cached is None:
            pending.append((key, path))
        else:
            values[key] = cached
    if not pending:
        return
    from .encoder import build_encoder

    model = build_encoder(store.weights, n_frames=spec.shape[0], all_layers=True)
    with tqdm(total=len(pending), desc=desc, unit=unit, disable=not progress) as bar:
        for start in range(0, len(pending), chunk_size):
            chunk = pending[start:start + chunk_size]
            ok, inputs = prepare([key for key, _ in chunk])
            done = [entry for entry, kept in zip(chunk, ok, strict=True) if kept]
            bar.update(len(chunk) - len(done))
            for b in range(0, len(done), batch_size):
                batch = done[b:b + batch_size]
                for (key, path), value in zip(batch, _encode(model, inputs(slice(b, b + batch_size)), pooling),
                                              strict=True):
                    _save(path, value)
                    values[key] = value
                bar.update(len(batch))


def embed(clips: Sequence[Clip], *, spec: FeatureSpec = DEFAULT_SPEC, source: str | Path | None = None,
          pooling: Pooling = "meanstd", batch_size: int = 16, chunk_size: int = 256, workers: int = 1,
          cache_root: Path | None = None, progress: bool = True) -> Embedded:
    """Every layer of the frozen encoder on ``clips``, from the cache or computed and cached (see the module).

    ``source``: the CTranslate2 Whisper model (:func:`find_model_dir`); ``workers``: processes decoding audio for
    the feature cache; ``chunk_size``: clips featurised at a time (bounds memory). Raises :class:`SerappError` for
    a bad option, spec or model.
    """
    if pooling not in POOLINGS:
        raise SerappError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}.")
    if batch_size < 1 or chunk_size < 1:
        raise SerappError(f"batch_size and chunk_size must be at least 1, got {batch_size} and {chunk_size}.")
    store = _open_store(spec, source, pooling, cache_root)
    values = np.zeros((len(clips), *store.entry_shape), dtype=np.float32 if pooling == "meanstd" else np.float16)
    errors: dict[int, str] = {}
    entries: list[tuple[int, Path]] = []
    for i, clip in enumerate(clips):
        try:
            k = cache.file_key(Path(clip.path), store.key)
        except OSError as exc:
            errors[i] = f"{clip.path}: cannot read the file ({exc.strerror or exc})."
            continue
        entries.append((i, store.root / k[:2] / f"{k}.npy"))

    def features(rows: list[int]) -> Prepared:
        """The chunk's clips featurised at once (the feature cache's processes); undecodable ones recorded."""
        extracted = cache.features([clips[i] for i in rows], spec, workers=workers, progress=False)
        rejected = [i for i, kept in zip(rows, extracted.kept, strict=True) if not kept]
        for i, (_, reason) in zip(rejected, extracted.errors, strict=True):  # both in input order
            errors[i] = reason
        return list(extracted.kept), lambda part: extracted.features[part]

    _cached_encode(values, entries, features, store=store, spec=spec, pooling=pooling, batch_size=batch_size,
                   chunk_size=chunk_size, desc=f"whisper {pooling}", unit="clip", progress=progress)
    for i in sorted(errors):
        log.warning("skipped a clip: %s", errors[i])
    kept = np.ones(len(clips), dtype=bool)
    kept[list(errors)] = False
    return Embedded(clips=[c for c, k in zip(clips, kept, strict=True) if k], kept=kept, values=values[kept],
                    errors=[(Path(clips[i].path), errors[i]) for i in sorted(errors)], root=store.root)


def embed_views(clips: Sequence[Clip], augment: AugmentConfig, *, views: int, seed: int = 0,
                spec: FeatureSpec = DEFAULT_SPEC, source: str | Path | None = None, batch_size: int = 16,
                chunk_size: int = 256, workers: int = 1, cache_root: Path | None = None,
                pooling: Pooling = "meanstd", progress: bool = True) -> np.ndarray:
    """Augmented views of ``clips`` through the frozen encoder: ``(len(clips), views, n_layers + 1, 2 * width)``
    float32 (meanstd pooling) or ``(len(clips), views, n_layers + 1, frames, width)`` float16 (frames), cached
    like :func:`embed`'s entries.

    View ``v`` of a clip is its prepared audio (the trainer's audio cache) with ``augment``'s audio
    augmentations drawn once, from a generator seeded by ``seed``, ``v`` and the clip file's identity: the same
    view every run, so it is computed once and resumes like the clean cache (the folder's key also hashes
    ``augment`` and ``seed``). Heads on a frozen encoder see augmented audio this way, without an encoder pass
    per batch. Every clip must decode (pass :func:`embed`'s kept clips); :class:`SerappError` otherwise.
    """
    from serapp.engine.features import features_from_prepared

    from ..augment import augment_audio

    if views < 1 or batch_size < 1 or chunk_size < 1:
        raise SerappError(f"views, batch_size and chunk_size must be at least 1, got {views}, {batch_size} and "
                          f"{chunk_size}.")
    if pooling not in POOLINGS:
        raise SerappError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}.")
    if not augment.audio_enabled:
        raise SerappError("Augmented views need an audio augmentation (p_noise, p_gain, p_partial...).")
    extra = f":{augment.cache_text()}:{seed}"
    store = _open_store(spec, source, pooling, cache_root, extra, {"augment": augment.to_dict(), "seed": seed})
    values = np.zeros((len(clips), views, *store.entry_shape), dtype=np.float32 if pooling == "meanstd" else np.float16)
    ids: list[str] = []  # each clip's identity key: it names the cache entries and seeds the views' draws
    for clip in clips:
        try:
            ids.append(cache.file_key(Path(clip.path), store.key))
        except OSError as exc:
            raise SerappError(f"{clip.path}: cannot read the file ({exc.strerror or exc}).") from exc
    entries = [((i, v), store.root / k[:2] / f"{k}-v{v}.npy") for i, k in enumerate(ids) for v in range(views)]

    def augmented(pairs: list[tuple[int, int]]) -> Prepared:
        """The chunk's clips' prepared audio, decoded at once; each view augmented and featurised per batch."""
        wanted = sorted({i for i, _ in pairs})
        extracted = cache.extract([clips[i] for i in wanted], spec, features=False, audio=True, workers=workers,
                                  progress=False)
        if not extracted.kept.all() or extracted.audio is None:
            raise SerappError("A clip for augmented views did not decode: embed the clean clips first "
                              "and pass only those kept.")
        prepared = dict(zip(wanted, extracted.audio, strict=True))

        def inputs(part: slice) -> np.ndarray:
            audio = np.stack([augment_audio(prepared[i][None].astype(np.float32), augment,
                                            np.random.default_rng([seed, v, int(ids[i][:12], 16)]),
                                            spec.sample_rate)[0] for i, v in pairs[part]])
            return features_from_prepared(audio, spec)

        return [True] * len(pairs), inputs

    _cached_encode(values, entries, augmented, store=store, spec=spec, pooling=pooling, batch_size=batch_size,
                   chunk_size=chunk_size, desc=f"whisper views x{views}", unit="view", progress=progress)
    return values


def _main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serapp_train.whisper.embeddings",
                                     description="Cache the frozen Whisper encoder's outputs for the corpora.")
    parser.add_argument("--root", type=Path, default=None, help="corpora folder (default: SERAPP_CORPORA)")
    parser.add_argument("--corpora", nargs="+", default=None, help="corpora to do (default: all found)")
    parser.add_argument("--model", default=None, help="CTranslate2 Whisper folder or package (default: tiny.en)")
    parser.add_argument("--pooling", choices=POOLINGS, default="meanstd")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1, help="processes decoding audio (default 1)")
    args = parser.parse_args(argv)
    clips = scan(args.root or corpora_root(), args.corpora)
    done = embed(clips, source=args.model, pooling=args.pooling, batch_size=args.batch_size, workers=args.workers)
    print(f"{len(done.clips)} clips cached in {done.root} ({done.values.shape[1:]} each); "
          f"{len(done.errors)} skipped")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(run_command("python -m serapp_train.whisper.embeddings", lambda: _main()))
