"""Window entry point (filled in by the desktop-app issue)."""

from __future__ import annotations

import argparse

from serapp.errors import SerappError


def run_app(args: argparse.Namespace) -> int:
    raise SerappError("The desktop window is not built yet (issue 6); use `serapp analyze FILE` meanwhile.")
