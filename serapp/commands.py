"""Sub-commands of `serapp` (analyze, listen, devices, bench). Each sets ``run`` on its parser."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add every sub-command parser to ``sub``."""
