"""About dialog: version, the model card (docs/model-card.md when present) and the loaded model's metadata."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTabWidget, QTextBrowser, QVBoxLayout, QWidget

from serapp import __version__
from serapp.bundle import model_card_path
from serapp.engine.model import OnnxModel

MODEL_CARD = model_card_path()  # package data (assets/model-card.md, the docs/ card)


def model_metadata_markdown(model: OnnxModel | None) -> str:
    """The model's self-description as Markdown (a plain note when no model is loaded)."""
    if model is None:
        return "**No model is loaded.** Choose one with *Live › Model…* or start with `--model PATH`."
    info = model.info
    rows = [("File", str(model.path)), ("Name", info.name), ("Family", info.family), ("Version", info.version),
            ("Created", info.created), ("Labels", ", ".join(info.labels)), ("Corpora", ", ".join(info.corpora)),
            ("Evaluation", info.protocol), ("Temperature", f"{info.temperature:g}"), ("License", info.license),
            ("Features", f"{info.spec.kind}, {info.spec.duration_s:g} s windows at {info.spec.sample_rate} Hz")]
    lines = ["| | |", "|---|---|", *(f"| **{k}** | {v} |" for k, v in rows if v)]
    if info.metrics:
        lines += ["", "**Metrics**", "", "```", json.dumps(info.metrics, indent=2, sort_keys=True), "```"]
    if info.notes:
        lines += ["", info.notes]
    return "\n".join(lines)


def model_card_markdown(path: Path = MODEL_CARD) -> str:
    """The model card's text, or a note saying it is absent."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return f"No model card found ({path} is absent)."


class AboutDialog(QDialog):
    def __init__(self, model: OnnxModel | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About serapp")
        self.resize(720, 560)
        header = QTextBrowser(self)
        header.setMarkdown(f"## serapp {__version__}\n\nReal-time speech emotion recognition. The model hears "
                           "*how* something is said (acted emotions from four English corpora), not what; treat "
                           "its output as a demonstration, not as a judgement about a person.")
        header.setMaximumHeight(110)
        tabs = QTabWidget(self)
        self.metadata = QTextBrowser(self)
        self.metadata.setMarkdown(model_metadata_markdown(model))
        self.card = QTextBrowser(self)
        self.card.setMarkdown(model_card_markdown())
        tabs.addTab(self.metadata, "Model")
        tabs.addTab(self.card, "Model card")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        layout = QVBoxLayout(self)
        layout.addWidget(header)
        layout.addWidget(tabs, 1)
        layout.addWidget(buttons)
