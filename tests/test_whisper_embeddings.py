"""The cache of frozen Whisper encoder outputs: values equal to pooling ctranslate2's own encoder output, entries
reused across runs, an interrupted run resumed where it stopped, bad files skipped and reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from serapp_train.corpora import Clip
from serapp_train.whisper import embeddings
from serapp_train.whisper.embeddings import DEFAULT_SPEC, embed, pool_mean_std

from serapp.engine import audio, features
from serapp.errors import SerappError
from tests.test_whisper_encoder import TOLERANCE, ct2_encode
from tests.whisper_support import require_whisper_extra

_ENCODE = embeddings._encode  # the real one, before any test wraps it


def _clips(paths: list[Path]) -> list[Clip]:
    return [Clip(path=p, corpus="test", label="neutral", speaker=f"test:{i}", sex=None, raw_label="n")
            for i, p in enumerate(paths)]


@pytest.fixture(scope="module")
def clips(sample_clips: list[Path]) -> list[Clip]:
    require_whisper_extra()
    return _clips(sample_clips[::3])  # 4 clips, one from each corpus


class _Counter:
    """Wraps :func:`embeddings._encode`, counting the clips it encodes; optionally interrupts after ``stop_after``
    batches, as Ctrl+C would."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.clips, self.batches, self.stop_after = 0, 0, stop_after

    def __call__(self, model: object, x: np.ndarray, pooling: str) -> np.ndarray:
        if self.stop_after is not None and self.batches == self.stop_after:
            raise KeyboardInterrupt
        self.batches += 1
        self.clips += len(x)
        return _ENCODE(model, x, pooling)  # type: ignore[arg-type]


def test_values_pool_ctranslate2s_encoder_output(clips: list[Clip], tmp_path: Path) -> None:
    import ctranslate2

    done = embed(clips, cache_root=tmp_path, batch_size=3, progress=False)
    assert done.values.shape == (4, 5, 2 * 384) and done.values.dtype == np.float32
    assert done.kept.all() and not done.errors
    assert (done.root / "manifest.json").is_file()
    x = np.stack([features.compute(audio.load(c.path, 16000), DEFAULT_SPEC) for c in clips])
    reference = ctranslate2.models.Whisper(str(require_whisper_extra()), device="cpu", compute_type="float32",
                                           intra_threads=1)
    want = pool_mean_std(ct2_encode(reference, x))  # the last layer's mean and std over the frames
    assert np.abs(done.values[:, -1] - want).max() <= TOLERANCE
    # the other layers differ from the last one (every layer is kept, not five copies of one)
    assert all(np.abs(done.values[:, i] - done.values[:, -1]).mean() > 0.05 for i in range(4))


def test_reuses_entries_and_resumes_after_an_interruption(clips: list[Clip], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    interrupted = _Counter(stop_after=1)
    monkeypatch.setattr(embeddings, "_encode", interrupted)
    with pytest.raises(KeyboardInterrupt):
        embed(clips, cache_root=tmp_path, batch_size=2, progress=False)
    assert interrupted.clips == 2
    assert len(list(tmp_path.glob("whisper/*/*/*.npy"))) == 2  # the first batch's entries, whole
    resumed = _Counter()
    monkeypatch.setattr(embeddings, "_encode", resumed)
    first = embed(clips, cache_root=tmp_path, batch_size=2, progress=False)
    assert resumed.clips == 2  # only what the interrupted run had not done
    warm = _Counter()
    monkeypatch.setattr(embeddings, "_encode", warm)
    again = embed(clips, cache_root=tmp_path, batch_size=2, progress=False)
    assert warm.clips == 0
    np.testing.assert_array_equal(again.values, first.values)
    # a damaged entry is recomputed, and only it
    damaged = sorted(tmp_path.glob("whisper/*/*/*.npy"))[0]
    damaged.write_bytes(b"not an array")
    monkeypatch.setattr(embeddings, "_encode", recount := _Counter())
    np.testing.assert_allclose(embed(clips, cache_root=tmp_path, progress=False).values, first.values, atol=1e-5)
    assert recount.clips == 1


def test_frames_bad_files_and_options(clips: list[Clip], tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF but not audio")
    done = embed([*_clips([bad]), clips[0]], cache_root=tmp_path / "c", pooling="frames", progress=False)
    assert done.kept.tolist() == [False, True]
    assert done.errors and done.errors[0][0] == bad
    assert done.values.shape == (1, 5, 150, 384) and done.values.dtype == np.float16
    # the frames' mean over time is the meanstd entry's mean, up to float16 rounding
    pooled = embed(clips[:1], cache_root=tmp_path / "c", progress=False).values
    np.testing.assert_allclose(done.values.astype(np.float32).mean(axis=2), pooled[:, :, :384], atol=2e-3)
    with pytest.raises(SerappError, match="pooling must be one of"):
        embed(clips, pooling="max", cache_root=tmp_path)  # type: ignore[arg-type]
    with pytest.raises(SerappError, match="takes whisper_logmel features"):
        embed(clips, spec=DEFAULT_SPEC.replace(kind="logmel", n_mels=64), cache_root=tmp_path)



def test_command_fills_the_cache_for_a_corpus_folder(corpora: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    require_whisper_extra()
    root = tmp_path / "corpora" / "savee" / "ALL"
    root.mkdir(parents=True)
    for name in ("DC_a01.ogg", "JE_sa01.ogg"):
        (root / name).symlink_to(corpora / "savee" / "ALL" / name)
    monkeypatch.setenv("SERAPP_CACHE", str(tmp_path / "cache"))
    assert embeddings._main(["--root", str(tmp_path / "corpora"), "--corpora", "savee"]) == 0
    assert "2 clips cached" in capsys.readouterr().out
    assert len(list((tmp_path / "cache" / "whisper").glob("*/*/*.npy"))) == 2
    with pytest.raises(SerappError, match="Unknown corpus"):
        embeddings._main(["--root", str(tmp_path / "corpora"), "--corpora", "nope"])


def test_augmented_views_are_cached_repeatable_and_differ_from_the_clean_clips(
        clips: list[Clip], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from serapp_train.augment import AugmentConfig

    phone = AugmentConfig(p_device=1.0, telephone_share=1.0, p_noise=1.0, snr_db=(10.0, 20.0))
    counted = _Counter()
    monkeypatch.setattr(embeddings, "_encode", counted)
    views = embeddings.embed_views(clips, phone, views=2, seed=3, cache_root=tmp_path, batch_size=3,
                                   progress=False)
    assert views.shape == (4, 2, 5, 2 * 384) and counted.clips == 8
    clean = embed(clips, cache_root=tmp_path, progress=False).values
    assert np.abs(views[:, 0] - clean).mean() > 0.05  # the telephone and the noise reach the encoder
    assert np.abs(views[:, 0] - views[:, 1]).mean() > 1e-3  # two views draw different noise
    monkeypatch.setattr(embeddings, "_encode", warm := _Counter())
    again = embeddings.embed_views(clips, phone, views=2, seed=3, cache_root=tmp_path, progress=False)
    assert warm.clips == 0
    np.testing.assert_array_equal(again, views)
    monkeypatch.setattr(embeddings, "_encode", _ENCODE)
    other = embeddings.embed_views(clips[:1], phone, views=1, seed=4, cache_root=tmp_path, progress=False)
    assert np.abs(other[0, 0] - views[0, 0]).mean() > 1e-3  # another seed, another draw, another entry
    with pytest.raises(SerappError, match="audio augmentation"):
        embeddings.embed_views(clips, AugmentConfig(), views=1, cache_root=tmp_path, progress=False)
