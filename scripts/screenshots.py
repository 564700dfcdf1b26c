"""Write PNG screenshots of the app (live view, file analysis, several files, demo mode) to docs/screenshots/.

Run under a virtual display:  ``bash scripts/screenshots.sh``  (xvfb-run at 1600x1000).
Uses the bundled model when present, else ``--model PATH``, else a small generated test model (then the
probabilities are meaningless, the views are not). Audio: real corpus clips joined into one recording.
Each PNG is palette-quantised (128 colours; scripts/shrink_pngs.py) to keep the repository small.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from serapp.engine import audio  # noqa: E402
from serapp.paths import corpora_root, default_model_path  # noqa: E402
from serapp.ui.app import check_qt_binding  # noqa: E402
from serapp.ui.mainwindow import LaunchOptions, MainWindow  # noqa: E402

# Acted clips of different emotions (RAVDESS / CREMA-D / TESS), joined with short pauses.
CLIPS = ["ravdess/Actor_01/03-01-05-01-01-01-01.ogg", "crema-d/AudioWAV/1005_TIE_HAP_XX.ogg",
         "tess/YAF_sad/YAF_back_sad.ogg", "ravdess/Actor_03/03-01-03-01-01-02-03.ogg",
         "crema-d/AudioWAV/1004_ITS_NEU_XX.ogg", "tess/OAF_angry/OAF_back_angry.ogg"]
SR = 16000
COLOURS = 128  # palette size of the written PNGs: about a third of the size of a full-colour grab, same look


def pump(app: QApplication, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.005)


def save_small(widget, path: Path, colours: int = COLOURS) -> None:
    """The widget's grab as a palette-quantised PNG (scripts/shrink_pngs.py)."""
    import io

    from PIL import Image
    from PySide6.QtCore import QBuffer, QIODevice

    sys.path.insert(0, str(ROOT / "scripts"))
    from shrink_pngs import quantise

    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    widget.grab().save(buffer, "PNG")
    quantise(Image.open(io.BytesIO(bytes(buffer.data()))), path, colours)


def joined_recording(folder: Path) -> Path:
    """The clips, resampled to 16 kHz and joined with 0.6 s pauses, as one WAV."""
    root = corpora_root()
    pause = np.zeros(int(0.6 * SR), dtype=np.float32)
    parts = [np.concatenate([audio.load(root / c, SR), pause]) for c in CLIPS]
    path = folder / "demo-recording.wav"
    sf.write(path, np.concatenate(parts), SR)
    return path


def model_path(folder: Path, given: str | None) -> str:
    if given:
        return given
    if default_model_path().exists():
        return str(default_model_path())
    from serapp.engine.spec import FeatureSpec
    from tests.onnx_models import save_model

    print("bundled model absent: using a generated test model (random weights)")
    return str(save_model(folder / "test-model.onnx", FeatureSpec(duration_s=2.0), temperature=6.0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    check_qt_binding()
    app = QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        recording = joined_recording(folder)
        store = QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(LaunchOptions(model=model_path(folder, args.model), input=str(recording)), store)
        window.resize(1440, 900)
        window.show()
        pump(app, 9.0)  # into the third clip: a filled spectrogram and some timeline
        save_small(window, out / "live-view.png")

        window.analyse_files([str(recording)])
        while window.file_view.busy:
            pump(app, 0.1)
        pump(app, 0.5)
        save_small(window, out / "file-analysis.png")

        window.analyse_files([str(corpora_root() / c) for c in CLIPS[:4]])
        while window.file_view.busy:
            pump(app, 0.1)
        window.file_view.show_file(str(corpora_root() / CLIPS[1]))
        pump(app, 0.5)
        save_small(window, out / "file-table.png")

        window.show_page(0)
        window.set_demo(True)  # restarts the recording, looping
        pump(app, 7.0)
        save_small(window, out / "demo-mode.png")
        window.set_demo(False)

        window.apply_theme("light")
        pump(app, 3.0)
        save_small(window, out / "live-view-light.png")
        window.close()
        window.deleteLater()
        app.processEvents()
    for p in sorted(out.glob("*.png")):
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
