"""Run folders for tests, written through :class:`serapp_train.runfolder.RunFolder` (the trainer's own writers), so
a test's folder has the layout `serapp-train train` leaves and no test spells a file name or format by hand."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from serapp_train.config import TrainConfig
from serapp_train.runfolder import RunFolder

from serapp.engine.spec import FeatureSpec


def make_run(folder: Path, *, config: TrainConfig | None = None, members: Sequence[RunFolder] = (),
             labels: Sequence[str] | None = None, spec: FeatureSpec | None = None, split: dict[str, Any] | None = None,
             metrics: dict[str, Any] | None = None, history: dict[str, Any] | None = None,
             teachers: dict[str, Any] | None = None) -> RunFolder:
    """The run folder ``folder`` (created if needed) holding the records given; the others are left out, as a run
    that predates them or was interrupted would leave them out."""
    folder.mkdir(parents=True, exist_ok=True)
    run = RunFolder(folder)
    if config is not None:
        run.write_config(config, members)
    records: tuple[tuple[Any, Callable[[Any], None]], ...] = (
        (labels, run.write_labels), (spec, run.write_spec), (split, run.write_split), (metrics, run.write_metrics),
        (history, run.write_history), (teachers, run.write_teachers))
    for value, write in records:
        if value is not None:
            write(value)
    return run
