"""Keras on JAX: every model family trains through the real training path with ``KERAS_BACKEND=jax`` and saves a
``model.keras`` that loads on TensorFlow and predicts what JAX predicted; the small families are also exported to
ONNX there (parity-checked) and run in onnxruntime. An ONNX export asked of a JAX process is refused before any
training, with the command that does it.

Keras reads the backend once, at import, so the work runs in subprocesses (tests/backend_worker.py) started with
the variable set: three chains (two of the small families, the ImageNet ones) run side by side, each a JAX process
that trains and then a TensorFlow process that loads. The ImageNet checkpoints are loaded but not converted on
TensorFlow: their conversion does not depend on where the weights were trained, tests/test_models.py converts
those architectures, and it would add about a minute here. Outside CI a missing jax skips with a plain reason;
under CI (CI=true) it fails: CI installs the ``jax`` extra.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from serapp_train.models import ENCODER_FAMILIES, FAMILIES, IMAGENET_FAMILIES

from serapp.paths import CORPORA_ENV_VAR
from tests.conftest import IN_CI

REPO = Path(__file__).resolve().parents[1]
# (families, what the TensorFlow process does with their checkpoints); three chains keep both cores busy
SMALL = tuple(f for f in FAMILIES if f not in (*IMAGENET_FAMILIES, *ENCODER_FAMILIES))
CHAINS: tuple[tuple[tuple[str, ...], str], ...] = (
    (SMALL[:len(SMALL) // 2], "export"), (SMALL[len(SMALL) // 2:], "export"), (IMAGENET_FAMILIES, "load"))
ATOL = 1e-4  # the export's own parity tolerance, on probabilities


def require_jax() -> None:
    """Skip (fail under CI) when jax is not importable."""
    try:
        import jax  # noqa: F401
    except ImportError as exc:
        reason = f"jax is not importable ({exc}); install the jax extra: pip install -e '.[jax]'"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)


# XLA's CPU compiler at its lowest optimisation: a test runs each compiled step once or twice, so compiling well
# costs more than it saves (a fifth to a half of each family's time, measured here). What JAX traces is unchanged.
FAST_XLA = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"


def run_python(args: list[str], backend: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` in the repository root with Keras on ``backend``; output captured."""
    full_env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2", **env}
    if backend == "jax":
        full_env["XLA_FLAGS"] = f"{FAST_XLA} {os.environ.get('XLA_FLAGS', '')}".strip()
    return subprocess.run([sys.executable, *args], cwd=REPO, env=full_env, capture_output=True, text=True,
                          timeout=600, check=False)


@pytest.fixture(scope="module")
def job(corpora: Path, sample_clips: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A job folder where every family was trained on JAX, then loaded (and exported) on TensorFlow."""
    require_jax()
    job = tmp_path_factory.mktemp("jax-job")
    (job / "clips.json").write_text(json.dumps([str(p) for p in sample_clips]))

    def chain(families: tuple[str, ...], tf_command: str) -> str:
        logs = []
        for command, backend in (("train", "jax"), (tf_command, "tensorflow")):
            done = run_python(["-m", "tests.backend_worker", command, str(job), *families], backend,
                              **{CORPORA_ENV_VAR: str(corpora)})
            logs.append(f"$ KERAS_BACKEND={backend} {command}: exit {done.returncode}\n{done.stdout}{done.stderr}")
        return "\n".join(logs)

    with ThreadPoolExecutor(len(CHAINS)) as pool:
        (job / "log.txt").write_text("\n".join(pool.map(chain, *zip(*CHAINS, strict=True))))
    return job


def outcome(job: Path, family: str, command: str) -> dict[str, object]:
    """The worker's record for ``family`` and ``command``; fails with the worker's traceback or log."""
    path = job / family / f"{command}.json"
    if not path.is_file():
        pytest.fail(f"no {command} record for {family}; worker log:\n{(job / 'log.txt').read_text()[-4000:]}")
    result = json.loads(path.read_text())
    if not result["ok"]:
        pytest.fail(f"{command} {family} on {result['backend']} failed:\n{result['error']}")
    return result


def _families() -> list[object]:
    # every family is slow here: the first one's fixture trains them all on JAX in background processes
    return [pytest.param(name, marks=pytest.mark.slow) for name in FAMILIES if name not in ENCODER_FAMILIES]


@pytest.mark.corpora
@pytest.mark.parametrize("family", _families())
def test_family_trains_on_jax(family: str, job: Path) -> None:
    import numpy as np

    result = outcome(job, family, "train")
    assert result["backend"] == "jax"
    assert result["steps"] == result["expected_steps"] >= 2 and result["gradients_applied"]
    assert len(result["loss"]) == 1 and math.isfinite(result["loss"][0])
    assert (job / family / "model.keras").stat().st_size == result["checkpoint_bytes"] > 0
    probs = np.load(job / family / "probs.npy")
    assert probs.shape == (len(np.load(job / family / "inputs.npy")), len(result["labels"]))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.corpora
@pytest.mark.parametrize("family", _families())
def test_jax_checkpoint_loads_and_exports_on_tensorflow(family: str, job: Path) -> None:
    exports = family not in IMAGENET_FAMILIES
    result = outcome(job, family, "export" if exports else "load")
    assert result["backend"] == "tensorflow"
    assert result["max_diff_keras"] <= ATOL  # the model loaded on TensorFlow gives JAX's probabilities
    if exports:
        assert (job / family / "model.onnx").stat().st_size > 0
        assert result["max_diff_onnx"] <= ATOL  # and so does its ONNX export


@pytest.mark.parametrize("command", ["train", "export"])
def test_onnx_export_on_jax_is_refused_up_front(command: str, tmp_path: Path) -> None:
    """Refused before reading any clip or run file: the corpora root and the run folder do not exist."""
    require_jax()
    absent = str(tmp_path / "absent")
    args = {"train": ["--family", "mlp", "--export", "--runs-dir", str(tmp_path / "runs")], "export": [absent]}
    done = run_python(["-m", "train", command, *args[command], "--root", absent], "jax")
    assert done.returncode == 2, done.stderr
    assert "needs Keras on the TensorFlow backend, but this process runs 'jax'" in done.stderr
    assert "KERAS_BACKEND=tensorflow serapp-train export RUN_DIR" in done.stderr
    assert not (tmp_path / "runs").exists()
