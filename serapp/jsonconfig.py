"""Configuration as data: a mixin that turns frozen dataclasses into JSON and back, with plain errors."""

from __future__ import annotations

import dataclasses
import json
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
        try:
            return cls(**cls._decode(dict(data)))
        except (TypeError, ValueError) as exc:
            raise SerappError(f"Invalid {cls.KIND}: {exc}.") from exc

    @classmethod
    def from_json(cls, text: str) -> Self:
        """Parse JSON text; invalid JSON is a :class:`SerappError`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SerappError(f"Invalid {cls.KIND}: not valid JSON ({exc.msg}).") from exc
        return cls.from_dict(data)

    def replace(self, **changes: Any) -> Self:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]
