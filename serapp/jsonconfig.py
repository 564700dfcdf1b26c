"""Configuration as data: a mixin that turns frozen dataclasses into JSON and back, with plain errors."""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Iterable
from typing import Any, ClassVar, Self

from serapp.errors import SerappError


def require(checks: Iterable[tuple[bool, str]], kind: str) -> None:
    """Raise ``SerappError("Invalid <kind>: <message>.")`` for the first failed ``(ok, message)`` check."""
    for ok, message in checks:
        if not ok:
            raise SerappError(f"Invalid {kind}: {message}.")


def _plain(value: Any) -> Any:
    if isinstance(value, JsonConfig):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _non_finite(value: Any) -> bool:
    """Whether ``value`` holds NaN or an infinity anywhere (lists and objects searched)."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return any(_non_finite(v) for v in value)
    if isinstance(value, dict):
        return any(_non_finite(v) for v in value.values())
    return False


def _int_fields(cls: type) -> tuple[set[str], set[str]]:
    """Names of the fields annotated ``int`` (or ``int | None``), and of those annotated ``tuple[int, ...]``."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # an annotation that cannot be resolved here: no type checks rather than a crash
        return set(), set()
    scalars, tuples = set(), set()
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        hint = hints.get(f.name)
        options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        if int in options:
            scalars.add(f.name)
        elif typing.get_origin(hint) is tuple and set(typing.get_args(hint)) <= {int, Ellipsis}:
            tuples.add(f.name)
    return scalars, tuples


def _whole(value: Any) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool))


def _check_numbers(cls: type, data: dict[str, Any]) -> None:
    """Refuse NaN and infinities in any value and fractional or float values in integer fields, with the field's
    name (``int(float("inf"))`` would otherwise escape as an OverflowError, and 1e300 pass as a size)."""
    scalars, tuples = _int_fields(cls)
    kind = getattr(cls, "KIND", "settings")
    for name, value in data.items():
        if _non_finite(value):
            raise SerappError(f"Invalid {kind}: {name} must be a finite number, got {value!r}.")
        if name in scalars and not _whole(value) and isinstance(value, float):
            raise SerappError(f"Invalid {kind}: {name} must be a whole number, got {value!r}.")
        if name in tuples and isinstance(value, (list, tuple)) and not all(_whole(v) for v in value):
            raise SerappError(f"Invalid {kind}: {name} must hold whole numbers, got {value!r}.")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


class JsonConfig:
    """Mixin for frozen dataclasses: ``to_dict``/``to_json``, ``from_dict``/``from_json``, ``replace``.

    Unknown keys (a file written by a newer version) and wrong value types raise :class:`SerappError`
    naming ``KIND``. Subclasses with nested configs override :meth:`_decode`.
    """

    KIND: ClassVar[str] = "settings"

    def to_dict(self) -> dict[str, Any]:
        """Field values as JSON-ready data (tuples become lists, nested configs dicts)."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    def to_json(self, indent: int | None = None) -> str:
        """JSON with sorted keys; compact (canonical) unless ``indent`` is given."""
        separators = None if indent else (",", ":")
        return json.dumps(self.to_dict(), sort_keys=True, indent=indent, separators=separators)

    @classmethod
    def _decode(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Turn nested JSON values into their types before the constructor runs (default: as they are)."""
        return values

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        """Build from a dict, validating every value."""
        if not isinstance(data, dict):
            raise SerappError(f"Invalid {cls.KIND}: expected a JSON object.")
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})  # type: ignore[arg-type]
        if unknown:
            raise SerappError(f"Invalid {cls.KIND}: unknown settings {', '.join(unknown)} (written by a newer "
                              "serapp? update serapp or re-create the file).")
        _check_numbers(cls, data)
        try:
            return cls(**cls._decode(dict(data)))
        except (TypeError, ValueError, OverflowError) as exc:
            raise SerappError(f"Invalid {cls.KIND}: {exc}.") from exc

    @classmethod
    def from_json(cls, text: str) -> Self:
        """Parse JSON text; invalid JSON, and the NaN/Infinity that Python's parser would accept, is a
        :class:`SerappError`."""
        try:
            data = json.loads(text, parse_constant=_refuse_constant)
        except json.JSONDecodeError as exc:
            raise SerappError(f"Invalid {cls.KIND}: not valid JSON ({exc.msg}).") from exc
        except ValueError as exc:
            raise SerappError(f"Invalid {cls.KIND}: not valid JSON ({exc}).") from exc
        except RecursionError as exc:
            raise SerappError(f"Invalid {cls.KIND}: not valid JSON (nested too deeply).") from exc
        return cls.from_dict(data)

    def replace(self, **changes: Any) -> Self:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]
