"""Corpus loaders: find the clips of each emotional speech corpus and parse label, speaker and sex from names.

Every loader returns :class:`Clip` values with a canonical label (:data:`serapp.engine.labels.EMOTIONS`) and a
speaker id namespaced by corpus (``crema-d:1001``, ``ravdess:01``, ``tess:OAF``, ``savee:DC``, ``esd:0011``,
``jl-corpus:female1``), in a sorted, deterministic order. Loaders read any extension libsndfile reads, so the
shared Ogg/Opus copies and the original WAV downloads load alike. A corpus lacking a canonical class simply
contributes none of it.

Files with an audio extension whose name does not parse are reported (logged as warnings, with the path) and
skipped; clips a corpus has but the canonical set leaves out (RAVDESS song/video, JL-Corpus secondary emotions,
ESD Mandarin speakers) are left out silently, as documented per loader. Nothing here decodes audio.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from serapp.engine.audio import AUDIO_SUFFIXES
from serapp.engine.labels import EMOTIONS
from serapp.errors import SerappError

log = logging.getLogger(__name__)

MALE, FEMALE = "male", "female"


@dataclass(frozen=True)
class Clip:
    """One labelled recording.

    ``label`` is canonical (one of ``EMOTIONS``); ``raw_label`` is the label as the corpus writes it
    (``"calm"``, ``"ANG"``, ``"ps"``, ``"sa"``, ``"Angry"``...); ``speaker`` is ``"<corpus>:<id>"``;
    ``sex`` is ``"male"``, ``"female"`` or ``None`` where the corpus does not say.
    """

    path: Path
    corpus: str
    label: str
    speaker: str
    sex: str | None
    raw_label: str


class _Unparseable(Exception):
    """A file name that does not follow its corpus's convention (reported and skipped)."""


# A parser turns (file, corpus folder) into a Clip, or None for a clip deliberately left out.
Parser = Callable[[Path, Path], Clip | None]


def _audio_files(folder: Path) -> Iterator[Path]:
    """Audio files under ``folder`` (recursively, hidden files and folders excluded), sorted by path."""
    for path in sorted(folder.rglob("*")):
        rel_parts = path.relative_to(folder).parts
        if path.suffix.lower() in AUDIO_SUFFIXES and not any(p.startswith(".") for p in rel_parts) \
                and path.is_file():
            yield path


def _report(path: Path, reason: str) -> None:
    log.warning("skipped %s: %s", path, reason)


def _order(clip: Clip) -> tuple[str, str]:
    return clip.corpus, clip.path.as_posix()


def _load(folder: Path, corpus: str, parse: Parser) -> list[Clip]:
    """Run ``parse`` on every audio file under ``folder``; report and skip the unparseable ones."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SerappError(f"{folder}: no such folder (expected the {corpus} corpus there).")
    clips: list[Clip] = []
    for path in _audio_files(folder):
        try:
            clip = parse(path, folder)
        except _Unparseable as exc:
            _report(path, f"{exc} (not a {corpus} file name)")
            continue
        if clip is not None:
            clips.append(clip)
    return sorted(clips, key=_order)


def _match(pattern: re.Pattern[str], text: str, convention: str) -> re.Match[str]:
    m = pattern.fullmatch(text)
    if m is None:
        raise _Unparseable(f"expected {convention}")
    return m


# ---------------------------------------------------------------------------------------------- RAVDESS
_RAVDESS_NAME = re.compile(r"(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})")
_RAVDESS_EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry", "06": "fearful",
                     "07": "disgust", "08": "surprised"}
_RAVDESS_CANONICAL = {"neutral": "neutral", "calm": "neutral", "happy": "happy", "sad": "sad", "angry": "angry",
                      "fearful": "fear", "disgust": "disgust", "surprised": "surprise"}


def _parse_ravdess(path: Path, _folder: Path, fold_calm: bool) -> Clip | None:
    m = _match(_RAVDESS_NAME, path.stem, "MM-VV-EE-II-SS-RR-AA")
    modality, channel, emotion, actor = m.group(1), m.group(2), m.group(3), m.group(7)
    if modality != "03" or channel != "01":  # only audio-only speech belongs to the speech corpus
        return None
    raw = _RAVDESS_EMOTIONS.get(emotion)
    if raw is None:
        raise _Unparseable(f"unknown RAVDESS emotion code {emotion}")
    if raw == "calm" and not fold_calm:
        return None
    sex = MALE if int(actor) % 2 else FEMALE
    return Clip(path, "ravdess", _RAVDESS_CANONICAL[raw], f"ravdess:{actor}", sex, raw)


def load_ravdess(folder: Path, *, fold_calm: bool = True) -> list[Clip]:
    """RAVDESS speech, audio-only: ``Actor_NN/03-01-EE-II-SS-RR-AA.ext`` (modality 03, vocal channel 01 only).

    "calm" (02) has no canonical class: it folds into neutral when ``fold_calm`` (default), else it is dropped.
    Sex follows the actor number (odd = male).
    """
    return _load(folder, "ravdess", partial(_parse_ravdess, fold_calm=fold_calm))


# ---------------------------------------------------------------------------------------------- CREMA-D
_CREMA_NAME = re.compile(r"(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})")
_CREMA_EMOTIONS = {"ANG": "angry", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}


def _crema_sexes(folder: Path) -> dict[str, str]:
    """Actor id -> sex from ``VideoDemographics.csv`` (columns ActorID, Sex), or {} when the file is absent."""
    table = folder / "VideoDemographics.csv"
    if not table.is_file():
        return {}
    with table.open(newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    sexes = {str(r.get("ActorID", "")).strip(): str(r.get("Sex", "")).strip().lower() for r in rows}
    return {actor: sex for actor, sex in sexes.items() if sex in (MALE, FEMALE)}


def _parse_crema(path: Path, _folder: Path, sexes: dict[str, str]) -> Clip:
    m = _match(_CREMA_NAME, path.stem, "AAAA_SSS_EEE_LL")
    actor, code = m.group(1), m.group(3)
    if code not in _CREMA_EMOTIONS:
        raise _Unparseable(f"unknown CREMA-D emotion code {code}")
    return Clip(path, "crema-d", _CREMA_EMOTIONS[code], f"crema-d:{actor}", sexes.get(actor), code)


def load_crema_d(folder: Path) -> list[Clip]:
    """CREMA-D: ``AudioWAV/AAAA_SSS_EEE_LL.ext``; sex from ``VideoDemographics.csv`` beside ``AudioWAV``.

    No surprise class.
    """
    return _load(folder, "crema-d", partial(_parse_crema, sexes=_crema_sexes(Path(folder))))


# ---------------------------------------------------------------------------------------------- TESS
_TESS_NAME = re.compile(r"([A-Za-z]+)_(.+)_(angry|disgust|fear|happy|neutral|sad|ps|pleasant_surprised?)",
                        re.IGNORECASE)
# The original distribution names one clip ``OA_bite_neutral``: the speaker prefix lacks its F.
_TESS_SPEAKER_ALIASES = {"OA": "OAF", "YA": "YAF"}


def _tess_label(raw: str) -> str:
    raw = raw.lower()
    return "surprise" if raw.startswith(("ps", "pleasant")) else raw


def _parse_tess(path: Path, _folder: Path) -> Clip:
    m = _match(_TESS_NAME, path.stem, "SPK_word_emotion")
    speaker = m.group(1).upper()
    speaker = _TESS_SPEAKER_ALIASES.get(speaker, speaker)
    return Clip(path, "tess", _tess_label(m.group(3)), f"tess:{speaker}", FEMALE, m.group(3))


def load_tess(folder: Path) -> list[Clip]:
    """TESS: ``SPK_emotion/SPK_word_emotion.ext``; "ps" (pleasant surprise) -> surprise. Both speakers female.

    The one original clip named ``OA_bite_neutral`` is credited to speaker OAF.
    """
    return _load(folder, "tess", _parse_tess)


# ---------------------------------------------------------------------------------------------- SAVEE
_SAVEE_CODES = {"a": "angry", "d": "disgust", "f": "fear", "h": "happy", "n": "neutral", "sa": "sad",
                "su": "surprise"}
_SAVEE_CODE = "(sa|su|a|d|f|h|n)"
_SAVEE_FLAT = re.compile(rf"([A-Z]{{2}})_{_SAVEE_CODE}(\d+)")
_SAVEE_OFFICIAL = re.compile(rf"{_SAVEE_CODE}(\d+)")
_SAVEE_SPEAKER = re.compile(r"[A-Z]{2}")


def _parse_savee(path: Path, _folder: Path) -> Clip:
    flat = _SAVEE_FLAT.fullmatch(path.stem)
    if flat is not None:  # ALL/DC_a01.ext
        speaker, code = flat.group(1), flat.group(2)
    else:  # AudioData/DC/a01.ext
        m = _match(_SAVEE_OFFICIAL, path.stem, "SPK_Enn (ALL/ layout) or SPK/Enn (AudioData/ layout)")
        speaker, code = path.parent.name, m.group(1)
        if _SAVEE_SPEAKER.fullmatch(speaker) is None:
            raise _Unparseable(f"expected a two-letter speaker folder, got {speaker!r}")
    return Clip(path, "savee", _SAVEE_CODES[code], f"savee:{speaker}", MALE, code)


def load_savee(folder: Path) -> list[Clip]:
    """SAVEE: flat ``ALL/DC_a01.ext`` or official ``AudioData/DC/a01.ext``; codes a, d, f, h, n, sa, su.

    All four speakers are male.
    """
    return _load(folder, "savee", _parse_savee)


# ---------------------------------------------------------------------------------------------- ESD
_ESD_NAME = re.compile(r"(\d{4})_(\d{6})")
_ESD_EMOTIONS = {"angry": "angry", "happy": "happy", "neutral": "neutral", "sad": "sad", "surprise": "surprise"}
# Speaker sexes from the ESD README (0011-0020 are the English speakers).
_ESD_SEX = {"0011": MALE, "0012": MALE, "0013": MALE, "0014": MALE, "0015": FEMALE, "0016": FEMALE,
            "0017": FEMALE, "0018": FEMALE, "0019": FEMALE, "0020": MALE}


def _parse_esd(path: Path, folder: Path) -> Clip | None:
    m = _match(_ESD_NAME, path.stem, "SPK_NNNNNN under SPK/Emotion/")
    speaker = m.group(1)
    if speaker not in _ESD_SEX:  # Mandarin speakers 0001-0010
        return None
    # The emotion is the nearest folder named after one (``Angry/`` or ``Angry/train/``).
    raw = next((p for p in reversed(path.relative_to(folder).parts[:-1]) if p.lower() in _ESD_EMOTIONS), None)
    if raw is None:
        raise _Unparseable("no emotion folder (Angry, Happy, Neutral, Sad, Surprise) above the file")
    return Clip(path, "esd", _ESD_EMOTIONS[raw.lower()], f"esd:{speaker}", _ESD_SEX[speaker], raw)


def load_esd(folder: Path) -> list[Clip]:
    """ESD, English speakers 0011-0020: ``0011/Angry/0011_000351.ext`` or ``0011/Angry/train/...``.

    Labels Angry, Happy, Neutral, Sad, Surprise; Mandarin speakers 0001-0010 are left out. Sex per the ESD
    README (0015-0019 female, the others male).
    """
    return _load(folder, "esd", _parse_esd)


# ---------------------------------------------------------------------------------------------- JL-Corpus
_JL_NAME = re.compile(r"(female|male)(\d+)_([a-z]+)_(\w+)", re.IGNORECASE)
_JL_PRIMARY = {"angry": "angry", "sad": "sad", "neutral": "neutral", "happy": "happy", "excited": None}
_JL_SECONDARY = frozenset({"anxious", "apologetic", "assertive", "concerned", "encouraging"})


def _parse_jl(path: Path, _folder: Path) -> Clip | None:
    m = _match(_JL_NAME, path.stem, "female1_angry_1a_1")
    sex, number, raw = m.group(1).lower(), m.group(2), m.group(3).lower()
    if raw in _JL_SECONDARY:
        return None
    if raw not in _JL_PRIMARY:
        raise _Unparseable(f"unknown JL-Corpus emotion {raw!r}")
    label = _JL_PRIMARY[raw]
    if label is None:
        return None
    return Clip(path, "jl-corpus", label, f"jl-corpus:{sex}{number}", sex, raw)


def load_jl_corpus(folder: Path) -> list[Clip]:
    """JL-Corpus: ``female1_angry_1a_1.ext``; speaker and sex from the name prefix.

    Of the five primary emotions, angry, sad, neutral and happy are kept; "excited" has no canonical class and
    is dropped, as are the secondary emotions (anxious, apologetic, assertive, concerned, encouraging).
    """
    return _load(folder, "jl-corpus", _parse_jl)


# ---------------------------------------------------------------------------------------------- manifest
_MANIFEST_REQUIRED = ("path", "label", "speaker")


def load_manifest(csv_path: Path, default_corpus: str = "manifest") -> list[Clip]:
    """Clips listed in a CSV with columns ``path, label, speaker`` and optional ``corpus`` and ``sex``.

    Relative paths resolve against the CSV's folder. Labels must be canonical (a :class:`SerappError` names the
    row otherwise); listed files that do not exist are reported and skipped. Speakers are namespaced by corpus.
    """
    csv_path = Path(csv_path)
    try:
        with csv_path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            columns = [c.strip() for c in reader.fieldnames or []]
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SerappError(f"{csv_path}: cannot read the manifest ({exc}).") from exc
    missing = [c for c in _MANIFEST_REQUIRED if c not in columns]
    if missing:
        raise SerappError(f"{csv_path}: the manifest lacks the column(s) {', '.join(missing)} "
                          f"(needs {', '.join(_MANIFEST_REQUIRED)}; optional corpus, sex).")
    clips: list[Clip] = []
    for line, raw_row in enumerate(rows, start=2):  # line 1 is the header
        row = {k.strip(): (v or "").strip() for k, v in raw_row.items() if k is not None}
        label, speaker = row["label"].lower(), row["speaker"]
        if label not in EMOTIONS:
            raise SerappError(f"{csv_path}, line {line}: label {row['label']!r} is not one of "
                              f"{', '.join(EMOTIONS)}.")
        if not row["path"] or not speaker:
            raise SerappError(f"{csv_path}, line {line}: the path and speaker must not be empty.")
        corpus = row.get("corpus") or default_corpus
        path = Path(row["path"]).expanduser()
        path = path if path.is_absolute() else csv_path.parent / path
        if not path.is_file():
            _report(path, f"listed on line {line} of {csv_path} but not found")
            continue
        sex = row.get("sex", "").lower() or None
        if not speaker.startswith(f"{corpus}:"):
            speaker = f"{corpus}:{speaker}"
        clips.append(Clip(path, corpus, label, speaker, sex if sex in (MALE, FEMALE) else None, row["label"]))
    return sorted(clips, key=_order)


# ---------------------------------------------------------------------------------------------- scan
LOADERS: dict[str, Callable[[Path], list[Clip]]] = {
    "ravdess": load_ravdess,
    "crema-d": load_crema_d,
    "tess": load_tess,
    "savee": load_savee,
    "esd": load_esd,
    "jl-corpus": load_jl_corpus,
}
CORPORA: tuple[str, ...] = tuple(LOADERS)


def available(root: Path) -> list[str]:
    """Names of the corpora present under ``root`` (as folders named after them), in :data:`CORPORA` order."""
    return [name for name in CORPORA if (Path(root) / name).is_dir()]


def scan(root: Path, corpora: Sequence[str] | None = None, *, fold_calm: bool = True) -> list[Clip]:
    """Load every corpus found under ``root`` (or only ``corpora``), sorted by corpus then path.

    Raises :class:`SerappError` when ``root`` is missing, a requested corpus is unknown or absent, or no
    corpus is found. ``fold_calm`` as in :func:`load_ravdess`.
    """
    root = Path(root)
    if not root.is_dir():
        raise SerappError(f"{root}: no such corpora folder (set SERAPP_CORPORA or pass --root).")
    present = available(root)
    if corpora is None:
        names = present
    else:
        unknown = [c for c in corpora if c not in LOADERS]
        if unknown:
            raise SerappError(f"Unknown corpus {', '.join(unknown)} (known: {', '.join(CORPORA)}).")
        absent = [c for c in corpora if c not in present]
        if absent:
            raise SerappError(f"{root}: corpus folder(s) not found: {', '.join(absent)}.")
        names = [c for c in CORPORA if c in corpora]
    if not names:
        raise SerappError(f"{root}: no corpus folders found (expected any of {', '.join(CORPORA)}).")
    clips: list[Clip] = []
    for name in names:
        folder = root / name
        clips += load_ravdess(folder, fold_calm=fold_calm) if name == "ravdess" else LOADERS[name](folder)
    return sorted(clips, key=_order)
