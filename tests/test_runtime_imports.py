"""The app's run time must not import TensorFlow, Keras or the trainer: they are training-time dependencies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN = ("tensorflow", "keras", "tf2onnx", "serapp_train")


def _loaded_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120,
                         env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"}, check=True).stdout
    return {name.split(".")[0] for name in out.split()}


def test_engine_cli_and_window_modules_do_not_import_training_packages(tmp_path: Path) -> None:
    code = (
        "import serapp.cli, serapp.commands, serapp.bench, serapp.ui.app, serapp.ui.mainwindow\n"
        "from serapp.engine import analysis, analyzer, capture, features, filesource, model\n"
        "import numpy as np\n"
        "m = model.load_model()\n"  # the bundled model, through onnxruntime
        "m.predict(features.compute_batch([np.zeros(16000, np.float32)], m.info.spec))\n"
    )
    loaded = _loaded_after(code)
    assert "onnxruntime" in loaded and "PySide6" in loaded  # the probe really loaded the runtime
    assert not loaded & set(FORBIDDEN), sorted(loaded & set(FORBIDDEN))


def test_nothing_under_serapp_imports_the_trainer() -> None:
    offenders = [str(p.relative_to(REPO)) for p in (REPO / "serapp").rglob("*.py")
                 if any(line.lstrip().startswith(("import serapp_train", "from serapp_train", "import tensorflow",
                                                  "import keras", "from keras", "from tensorflow"))
                        for line in p.read_text(encoding="utf-8").splitlines())]
    assert offenders == []
