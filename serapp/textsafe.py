"""Text that came from outside (file names, model labels) made safe for where it is shown or written.

Three places trust text too much: a spreadsheet runs a CSV cell that starts like a formula (``=cmd|' -c calc'!A1``);
a terminal obeys control characters (ESC sequences can recolour, retitle or rewrite the screen; CR hides what was
printed before it); and a file name that is not valid UTF-8 arrives in Python as lone surrogates
(``surrogateescape``), which cannot be encoded for display. Each function here is pure and total: any ``str`` in,
a safe ``str`` out.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

# OWASP "CSV injection": cells starting with these are run as formulas by Excel, LibreOffice and Google Sheets
# (tab and CR because spreadsheets strip them and then see the next character).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
# C0 controls, DEL and C1 controls: what a terminal may interpret. Lone surrogates are handled separately.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def csv_cell(value: str) -> str:
    """A text cell a spreadsheet shows as text, on one row: control characters (CR and LF could end the row: the
    csv module quotes only its own line terminator) and bytes that were not UTF-8 are written as visible escapes,
    as :func:`terminal_text` does, and a cell that then starts with ``= + - @`` gets a ``'`` in front (OWASP; a
    leading tab or CR is already an escape).

    For text cells only (file names, labels); numbers are written as they are, so ``-3.5`` stays a number.
    """
    text = terminal_text(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def encodable(value: str) -> str:
    """``value`` with each byte that was not valid UTF-8 (a lone surrogate from ``surrogateescape``, as in a file
    name) written as ``\\xNN``; nothing else changes. The result always encodes as UTF-8 (files, Qt, JSON)."""
    return _SURROGATE.sub(_undecodable, value)


def terminal_text(value: str) -> str:
    """``value`` with every control character written as a visible escape (ESC -> ``\\x1b``, CR -> ``\\x0d``) and
    every byte that was not valid UTF-8 (a lone surrogate from ``surrogateescape``) as ``\\xNN``; printable text,
    including any non-ASCII letter, is kept. The result always encodes as UTF-8."""
    return _CONTROL.sub(_escape, encodable(value))


def _undecodable(match: re.Match[str]) -> str:
    code = ord(match.group())
    # surrogateescape maps an undecodable byte b to U+DC00 + b; other lone surrogates are shown by code point.
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def shown_path(path: str | os.PathLike[str] | Path) -> str:
    """A path as it may appear in a message or a terminal line: :func:`terminal_text` of its name, so a file name
    with control characters or invalid UTF-8 bytes is shown, not obeyed, and never breaks the encoding."""
    return terminal_text(os.fspath(path))
