"""About dialog: version, the model card (docs/model-card.md when present) and the loaded model's metadata."""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTabWidget, QTextBrowser, QVBoxLayout, QWidget

from serapp import __version__
from serapp.bundle import model_card_path
from serapp.engine.model import OnnxModel

MODEL_CARD = model_card_path()  # package data (assets/model-card.md, the docs/ card)


_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")


def resolve_images(markdown: str, folder: Path) -> str:
    """``markdown`` with each image given as a file URL when the file is in ``folder`` (relative names showed as
    broken images), and as its caption in italics when it is not there (a wheel ships the card, not docs/)."""
    def one(match: re.Match[str]) -> str:
        alt, target = match.group(1), match.group(2)
        if "://" in target:
            return match.group(0)
        path = (folder / target).resolve()
        if path.is_file():
            return f"![{alt}]({QUrl.fromLocalFile(str(path)).toString()})"
        return f"*[{alt or 'Figure'}: in the full model card, docs/model-card.md]*"

    return _IMAGE.sub(one, markdown)


# How the usual metric names read; others are shown with their underscores as spaces.
METRIC_NAMES = {"accuracy": "Accuracy", "uar": "Unweighted average recall (UAR)", "macro_f1": "Macro F1",
                "weighted_f1": "Weighted F1"}


def metric_lines(metrics: dict, prefix: str = "") -> list[str]:
    """Markdown list items for the model's ``metrics`` (nested dicts flattened with " › "): shares in [0, 1]
    as percentages with one decimal, other numbers as they are, text as it is."""
    lines: list[str] = []
    for key, value in metrics.items():
        name = prefix + METRIC_NAMES.get(str(key), str(key).replace("_", " "))
        if isinstance(value, dict):
            lines += metric_lines(value, f"{name} › ")
        elif isinstance(value, bool) or not isinstance(value, int | float):
            lines.append(f"- {name}: {value}")
        elif 0.0 <= value <= 1.0 and not isinstance(value, int):
            lines.append(f"- {name}: {100 * value:.1f} %")
        else:
            lines.append(f"- {name}: {value:g}")
    return lines


def model_metadata_markdown(model: OnnxModel | None) -> str:
    """The model's self-description as Markdown (a plain note when no model is loaded): one line per field, the
    metrics as readable figures (never raw JSON)."""
    if model is None:
        return "**No model is loaded.** Choose one with *Live › Model…* or start with `--model PATH`."
    info = model.info
    rows = [("File", str(model.path)), ("Name", info.name), ("Family", info.family), ("Version", info.version),
            ("Created", info.created), ("Labels", ", ".join(info.labels)), ("Corpora", ", ".join(info.corpora)),
            ("Evaluation", info.protocol), ("Temperature", f"{info.temperature:g}"), ("License", info.license),
            ("Features", f"{info.spec.kind}, {info.spec.duration_s:g} s windows at {info.spec.sample_rate} Hz")]
    lines = [f"- **{k}**: {v}" for k, v in rows if v]
    if info.metrics:
        lines += ["", "**Metrics**", "", *metric_lines(info.metrics)]
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
        self.card.setMarkdown(resolve_images(model_card_markdown(), MODEL_CARD.parent))
        tabs.addTab(self.metadata, "Model")
        tabs.addTab(self.card, "Model card")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        layout = QVBoxLayout(self)
        layout.addWidget(header)
        layout.addWidget(tabs, 1)
        layout.addWidget(buttons)
