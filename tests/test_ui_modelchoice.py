"""The window's model-loading policy (serapp.ui.modelchoice, no Qt): the file asked for, the bundled model as a
stand-in only when none is loaded, what the banner says and what is saved. A fake loader for the rules, the real
loader on a real ONNX model for the end to end case."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from serapp.engine.model import load_model
from serapp.errors import SerappError
from serapp.ui.modelchoice import choose_model, startup_path


@dataclass(frozen=True)
class Fake:
    path: Path


def loader(*usable: str, bundled: bool = True) -> Callable[[str | None], Fake]:
    """A loader that knows the files ``usable`` (and the bundled ``bundled.onnx`` when ``bundled``)."""
    def load(path: str | None) -> Fake:
        if path is None:
            if not bundled:
                raise SerappError("The bundled model bundled.onnx is absent.")
            return Fake(Path("bundled.onnx"))
        if path not in usable:
            raise SerappError(f"{path}: no such model file.")
        return Fake(Path(path))
    return load


def test_startup_takes_the_cli_model_then_the_saved_one_then_the_bundled() -> None:
    assert startup_path("cli.onnx", "saved.onnx") == "cli.onnx"
    assert startup_path(None, "saved.onnx") == "saved.onnx"
    assert startup_path(None, "") == ""


def test_a_good_file_is_used_and_saved_only_when_the_caller_saves() -> None:
    outcome = choose_model(loader("a.onnx"), "a.onnx", None)
    assert outcome.model == Fake(Path("a.onnx")) and outcome.problem == "" and outcome.persist
    assert not choose_model(loader("a.onnx"), "a.onnx", None, persist=False).persist


def test_a_bad_file_at_start_gives_way_to_the_bundled_model_and_is_not_saved() -> None:
    outcome = choose_model(loader(), "gone.onnx", None, persist=True)
    assert outcome.model == Fake(Path("bundled.onnx")) and not outcome.persist
    assert outcome.problem == ("Model problem: gone.onnx: no such model file. Using the bundled model bundled.onnx "
                               "instead.")


def test_a_bad_file_later_keeps_the_current_model() -> None:
    outcome = choose_model(loader(), "gone.onnx", Fake(Path("mine.onnx")))
    assert outcome.model is None and not outcome.persist
    assert outcome.problem == "No model: gone.onnx: no such model file. Keeping mine.onnx."


def test_without_a_usable_bundled_model_the_message_says_both_and_what_is_off() -> None:
    outcome = choose_model(loader(bundled=False), "gone.onnx", None)
    assert outcome.model is None
    assert "gone.onnx: no such model file" in outcome.problem and "bundled.onnx is absent" in outcome.problem
    assert outcome.problem.startswith("No model:") and "Live analysis and file analysis are off" in outcome.problem


def test_the_bundled_model_itself_is_asked_for_by_the_empty_path() -> None:
    assert choose_model(loader(), "", None).model == Fake(Path("bundled.onnx"))
    outcome = choose_model(loader(bundled=False), "", None)
    assert outcome.model is None and "bundled.onnx is absent" in outcome.problem


def test_the_real_loader_on_a_real_model_and_a_damaged_file(tmp_path: Path, onnx_model_path: Path) -> None:
    good = choose_model(load_model, str(onnx_model_path), None)
    assert good.model is not None and good.model.path == onnx_model_path and good.persist
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    kept = choose_model(load_model, str(garbage), good.model)
    assert kept.model is None and "garbage.onnx" in kept.problem and f"Keeping {onnx_model_path.name}" in kept.problem


@pytest.mark.parametrize("path", ["", "x.onnx"])
def test_any_other_error_than_a_plain_reason_is_not_swallowed(path: str) -> None:
    def crash(_path: str | None) -> Fake:
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError):
        choose_model(crash, path, None)


def test_the_policy_and_the_live_input_state_need_no_qt() -> None:
    import subprocess
    import sys

    code = ("import sys, serapp.ui.modelchoice, serapp.ui.liveinput; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'onnxruntime')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
