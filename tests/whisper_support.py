"""Shared by the Whisper tests: the ``whisper`` extra's parts, or a skip with a plain reason (a failure under CI,
which installs the extra through scripts/test.sh)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from serapp_train.whisper.ctranslate2_reader import DEFAULT_PACKAGE, find_model_dir

from tests.conftest import IN_CI


def require_whisper_extra() -> Path:
    """The Whisper tiny.en model folder of the ``whisper`` extra; skip (fail under CI) when the extra is absent."""
    missing = [name for name in ("ctranslate2", DEFAULT_PACKAGE) if importlib.util.find_spec(name) is None]
    if missing:
        reason = (f"needs the whisper extra ({', '.join(missing)} not installed): "
                  "pip install -e '.[whisper]' (scripts/test.sh installs it)")
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    return find_model_dir()
