"""The code a run was trained with: the git commit of the trainer's checkout and whether it had uncommitted changes.

A run records this in its ``metrics.json`` under ``code`` (:func:`code_record`, written by
:func:`serapp_train.training.train_run`), and the models manifest copies the commit into a bundled model's entry as
``training_commit`` (:mod:`serapp_train.modelmanifest`). ``changes`` says whether tracked files under
:data:`WATCHED` differed from that commit when the run started (untracked files are not counted), so a commit
recorded with ``changes`` true names the code only approximately. Outside a git checkout (an installed wheel, no
``git`` program) the record is None: nothing is guessed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

# the folders whose uncommitted changes make a commit an approximate record of the code that trained a run
WATCHED: tuple[str, ...] = ("train", "serapp", "configs")
# the checkout the trainer runs from: the folder holding this package's ``train/`` folder
CHECKOUT: Path = Path(__file__).resolve().parent.parent


def _git(checkout: Path, *args: str) -> str | None:
    """``git -C checkout ARGS``'s standard output, or None when git is missing or fails."""
    try:
        done = subprocess.run(["git", "-C", str(checkout), *args], capture_output=True, text=True, timeout=30,
                              check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def code_record(checkout: Path = CHECKOUT) -> dict[str, Any] | None:
    """``{"commit": <HEAD's hex SHA-1>, "changes": <bool>}`` for the git checkout at ``checkout`` (see the module);
    None when ``checkout`` is not the top of a git work tree (e.g. the package installed into site-packages) or
    git cannot be run."""
    top = _git(checkout, "rev-parse", "--show-toplevel")
    if top is None or Path(top.strip()).resolve() != Path(checkout).resolve():
        return None
    commit = _git(checkout, "rev-parse", "HEAD")
    status = _git(checkout, "status", "--porcelain", "--untracked-files=no", "--", *WATCHED)
    if commit is None or status is None:
        return None
    return {"commit": commit.strip(), "changes": bool(status.strip())}
