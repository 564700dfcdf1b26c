"""Corpus loaders on real clips: labels, speakers and sexes parsed from real names and folders."""

from __future__ import annotations

import logging
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from serapp_train import corpora as C

from serapp.engine.labels import EMOTIONS
from serapp.errors import SerappError

pytestmark = pytest.mark.corpora


def by_name(clips: list[C.Clip]) -> dict[str, C.Clip]:
    return {c.path.name: c for c in clips}


@pytest.fixture(scope="module")
def real_wav(corpora: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real clip converted to WAV (as the original downloads are)."""
    y, sr = sf.read(corpora / "savee" / "ALL" / "DC_a01.ogg")
    path = tmp_path_factory.mktemp("wav") / "source.wav"
    sf.write(path, y, sr)
    return path


def place(src: Path, root: Path, *relatives: str) -> list[Path]:
    """Copy ``src`` to each relative path under ``root`` (folders created)."""
    out = []
    for rel in relatives:
        dst = root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        out.append(dst)
    return out


def test_ravdess_parses_real_names_and_calm_option(corpora: Path) -> None:
    clips = C.load_ravdess(corpora / "ravdess")
    assert len(clips) == 1440
    c = by_name(clips)
    angry = c["03-01-05-01-01-01-01.ogg"]
    assert (angry.label, angry.speaker, angry.sex, angry.raw_label) == ("angry", "ravdess:01", "male", "angry")
    assert c["03-01-04-02-02-01-02.ogg"].sex == "female"
    calm = c["03-01-02-01-01-01-01.ogg"]
    assert (calm.label, calm.raw_label) == ("neutral", "calm")
    dropped = C.load_ravdess(corpora / "ravdess", fold_calm=False)
    assert len(clips) - len(dropped) == 24 * 8  # 8 calm clips per actor
    assert all(d.raw_label != "calm" for d in dropped)
    assert {d.label for d in clips} == set(EMOTIONS)


def test_crema_d_sex_from_demographics(corpora: Path) -> None:
    clips = C.load_crema_d(corpora / "crema-d")
    assert len(clips) == 6622
    c = by_name(clips)
    first = c["1001_DFA_ANG_XX.ogg"]
    assert (first.label, first.speaker, first.sex, first.raw_label) == ("angry", "crema-d:1001", "male", "ANG")
    assert c["1002_IEO_SAD_HI.ogg"].sex == "female"  # row 1002 of VideoDemographics.csv says Female
    assert "surprise" not in {x.label for x in clips}
    assert len({x.speaker for x in clips}) == 81


def test_tess_pleasant_surprise_and_speakers(corpora: Path) -> None:
    clips = C.load_tess(corpora / "tess")
    assert len(clips) == 2800
    c = by_name(clips)
    ps = c["OAF_back_ps.ogg"]
    assert (ps.label, ps.raw_label, ps.speaker, ps.sex) == ("surprise", "ps", "tess:OAF", "female")
    assert {x.speaker for x in clips} == {"tess:OAF", "tess:YAF"}
    assert Counter(x.label for x in clips) == dict.fromkeys(EMOTIONS, 400)


def test_tess_original_oa_bite_name(corpora: Path, tmp_path: Path) -> None:
    src = corpora / "tess" / "OAF_neutral" / "OAF_bite_neutral.ogg"
    place(src, tmp_path / "tess", "OAF_neutral/OA_bite_neutral.wav", "OAF_Pleasant_surprise/OAF_bar_ps.wav")
    clips = by_name(C.load_tess(tmp_path / "tess"))
    assert (clips["OA_bite_neutral.wav"].speaker, clips["OA_bite_neutral.wav"].label) == ("tess:OAF", "neutral")
    assert clips["OAF_bar_ps.wav"].label == "surprise"


def test_savee_flat_layout(corpora: Path) -> None:
    clips = C.load_savee(corpora / "savee")
    assert len(clips) == 480
    c = by_name(clips)
    assert (c["JE_sa01.ogg"].label, c["JE_sa01.ogg"].speaker, c["JE_sa01.ogg"].sex) == ("sad", "savee:JE", "male")
    assert c["DC_su01.ogg"].label == "surprise"
    assert {x.speaker for x in clips} == {"savee:DC", "savee:JE", "savee:JK", "savee:KL"}


def test_savee_official_layout(real_wav: Path, tmp_path: Path) -> None:
    place(real_wav, tmp_path / "savee", "AudioData/DC/a01.wav", "AudioData/KL/su15.wav", "AudioData/KL/n30.flac")
    clips = C.load_savee(tmp_path / "savee")
    got = {(c.speaker, c.label, c.raw_label) for c in clips}
    assert got == {("savee:DC", "angry", "a"), ("savee:KL", "surprise", "su"), ("savee:KL", "neutral", "n")}


def test_esd_flat_and_nested(real_wav: Path, tmp_path: Path) -> None:
    place(real_wav, tmp_path / "esd", "0011/Angry/0011_000351.wav", "0015/Surprise/train/0015_001401.wav",
          "0020/Neutral/evaluation/0020_000001.wav", "0001/Happy/0001_000701.wav")
    (tmp_path / "esd" / "0011" / "0011.txt").write_text("transcripts")  # not audio: ignored
    clips = C.load_esd(tmp_path / "esd")
    got = [(c.speaker, c.label, c.sex, c.raw_label) for c in clips]
    # 0001 is a Mandarin speaker: left out.
    assert got == [("esd:0011", "angry", "male", "Angry"), ("esd:0015", "surprise", "female", "Surprise"),
                   ("esd:0020", "neutral", "male", "Neutral")]


def test_jl_corpus_keeps_primary_emotions_only(real_wav: Path, tmp_path: Path) -> None:
    place(real_wav, tmp_path / "jl-corpus", "female1_angry_1a_1.wav", "male2_sad_10b_2.wav",
          "female2_excited_3a_1.wav", "male1_apologetic_2a_1.wav", "male1_happy_1a_1.wav")
    clips = C.load_jl_corpus(tmp_path / "jl-corpus")
    got = [(c.speaker, c.label, c.sex) for c in clips]
    assert got == [("jl-corpus:female1", "angry", "female"), ("jl-corpus:male1", "happy", "male"),
                   ("jl-corpus:male2", "sad", "male")]


def test_manifest_resolves_relative_paths_and_rejects_bad_labels(real_wav: Path, tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    (clip,) = place(real_wav, tmp_path, "audio/one.wav")
    manifest = tmp_path / "list.csv"
    manifest.write_text(f"path,label,speaker,corpus\naudio/one.wav,Sad,s1,mine\n{clip},angry,s2,\n"
                        "audio/missing.wav,happy,s3,mine\n")
    with caplog.at_level(logging.WARNING, logger="serapp_train.corpora"):
        clips = C.load_manifest(manifest)
    assert [(c.path, c.label, c.speaker, c.corpus) for c in clips] == [
        (clip, "angry", "manifest:s2", "manifest"), (clip, "sad", "mine:s1", "mine")]
    assert "missing.wav" in caplog.text
    manifest.write_text("path,label,speaker\naudio/one.wav,happy,a\naudio/one.wav,calm,a\n")
    with pytest.raises(SerappError, match=r"line 3: label 'calm'"):
        C.load_manifest(manifest)
    manifest.write_text("file,label\naudio/one.wav,happy\n")
    with pytest.raises(SerappError, match="lacks the column"):
        C.load_manifest(manifest)


def test_unparseable_name_is_reported_and_skipped(corpora: Path, tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    src = corpora / "savee" / "ALL" / "DC_a01.ogg"
    place(src, tmp_path / "savee", "ALL/DC_a01.ogg", "ALL/DC_x01.ogg", "ALL/notes.txt")
    with caplog.at_level(logging.WARNING, logger="serapp_train.corpora"):
        clips = C.scan(tmp_path)
    assert [c.path.name for c in clips] == ["DC_a01.ogg"]
    assert "DC_x01.ogg" in caplog.text and "notes.txt" not in caplog.text


def test_scan_selection_and_errors(corpora: Path, tmp_path: Path) -> None:
    clips = C.scan(corpora, ["savee", "tess"])
    assert Counter(c.corpus for c in clips) == {"tess": 2800, "savee": 480}
    assert clips == sorted(clips, key=lambda c: (c.corpus, c.path.as_posix()))
    with pytest.raises(SerappError, match="Unknown corpus"):
        C.scan(corpora, ["emodb"])
    with pytest.raises(SerappError, match="not found: esd"):
        C.scan(corpora, ["esd"])
    with pytest.raises(SerappError, match="no corpus folders"):
        C.scan(tmp_path)


@pytest.mark.slow
def test_full_scan_counts(corpora: Path) -> None:
    clips = C.scan(corpora)
    assert len(clips) == 11342
    assert clips == C.scan(corpora)  # deterministic
    assert len({c.path for c in clips}) == len(clips)
    assert {c.label for c in clips} <= set(EMOTIONS)
    speakers = Counter(corpus for corpus, _ in {(c.corpus, c.speaker) for c in clips})
    assert speakers == {"crema-d": 81, "ravdess": 24, "tess": 2, "savee": 4}
    assert np.all([c.speaker.startswith(c.corpus + ":") for c in clips])
