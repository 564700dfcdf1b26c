"""Packaging: the wheel installs only serapp-named packages and carries the bundled model, its manifest and card;
the app checks a bundled model against its manifest; an installed (not editable) copy analyses a file."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath

import pytest

from serapp import bundle
from serapp.errors import SerappError

REPO = Path(__file__).resolve().parents[1]
# Source folder -> the import name it installs as ([tool.setuptools.package-dir] in pyproject.toml).
INSTALLED_AS = {"serapp": "serapp", "train": "serapp_train", "assets": "serapp_assets"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from the working tree as pip builds one (isolated build environment, no dependencies)."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(out)],
                   check=True, capture_output=True, timeout=600)
    (built,) = out.glob("serapp-*.whl")
    return built


def _names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_wheel_installs_only_serapp_named_packages(wheel: Path) -> None:
    tops = {PurePosixPath(n).parts[0] for n in _names(wheel) if not PurePosixPath(n).parts[0].endswith(".dist-info")}
    assert tops == {"serapp", "serapp_train", "serapp_assets"}


def test_wheel_holds_every_module_of_the_app_and_the_trainer(wheel: Path) -> None:
    """pyproject.toml lists the packages by hand (package-dir mapping rules out discovery): a new subpackage
    missing from that list would be missing from the wheel."""
    names = set(_names(wheel))
    for folder, name in INSTALLED_AS.items():
        sources = [p.relative_to(REPO / folder).as_posix() for p in (REPO / folder).rglob("*.py")
                   if "__pycache__" not in p.parts]
        assert sources, folder
        missing = [s for s in sources if f"{name}/{s}" not in names]
        assert missing == [], f"{folder}/ modules missing from the wheel as {name}: {missing}"


def test_wheel_carries_the_trainers_templates(wheel: Path) -> None:
    """The model card is rendered from a template shipped as package data (serapp_train.cardrender)."""
    templates = sorted(p.relative_to(REPO / "train").as_posix() for p in (REPO / "train" / "templates").iterdir())
    assert templates and {f"serapp_train/{t}" for t in templates} <= set(_names(wheel))


def test_wheel_carries_the_bundled_model_its_manifest_and_card(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        model = archive.read("serapp_assets/models/serapp-default.onnx")
        manifest = json.loads(archive.read("serapp_assets/models/manifest.json"))
        card = archive.read("serapp_assets/model-card.md")
    (entry,) = [m for m in manifest["models"] if m["file"] == "serapp-default.onnx"]
    assert entry["size_bytes"] == len(model)
    assert entry["sha256"] == hashlib.sha256(model).hexdigest()
    assert card == (REPO / "docs" / "model-card.md").read_bytes()  # the card itself, not a link to it


def test_the_bundled_model_matches_its_manifest() -> None:
    path = bundle.default_model_path()
    bundle.verify(path)  # raises on a mismatch
    (entry,) = [m for m in bundle.read_manifest(path.parent)["models"] if m["file"] == path.name]
    assert entry["sha256"] == bundle.sha256_file(path) and entry["size_bytes"] == path.stat().st_size


@pytest.fixture
def bundled_copy(tmp_path: Path) -> Path:
    """A copy of the bundled models folder (model and manifest); returns the copied model."""
    source = bundle.default_model_path()
    shutil.copy(source, tmp_path / source.name)
    shutil.copy(source.parent / bundle.MANIFEST_NAME, tmp_path / bundle.MANIFEST_NAME)
    return tmp_path / source.name


def test_verify_refuses_a_modified_copy_of_the_same_size(bundled_copy: Path) -> None:
    bundle.verify(bundled_copy, folder=bundled_copy.parent)  # the intact copy passes
    data = bytearray(bundled_copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bundled_copy.write_bytes(bytes(data))
    with pytest.raises(SerappError, match=r"not the file serapp shipped \(its SHA-256 is .*damaged"):
        bundle.verify(bundled_copy, folder=bundled_copy.parent)


def test_verify_refuses_a_truncated_copy(bundled_copy: Path) -> None:
    data = bundled_copy.read_bytes()
    bundled_copy.write_bytes(data[:-100])
    with pytest.raises(SerappError, match=f"it has {len(data) - 100:,} bytes, its manifest says {len(data)}"):
        bundle.verify(bundled_copy, folder=bundled_copy.parent)


def test_verify_needs_the_manifest_but_leaves_other_models_alone(bundled_copy: Path, tmp_path: Path) -> None:
    other = tmp_path / "mine.onnx"
    shutil.copy(bundled_copy, other)
    bundle.verify(other, folder=tmp_path)  # not listed: a user's model is not the bundle's business
    bundle.verify(bundled_copy, folder=tmp_path / "elsewhere")  # not in the bundled folder
    (tmp_path / bundle.MANIFEST_NAME).write_text("{not json", encoding="utf-8")
    with pytest.raises(SerappError, match=r"manifest .* cannot be read"):
        bundle.verify(bundled_copy, folder=tmp_path)
    (tmp_path / bundle.MANIFEST_NAME).unlink()
    with pytest.raises(SerappError, match=r"manifest .* is missing"):
        bundle.verify(bundled_copy, folder=tmp_path)


def test_the_manifest_command_records_a_replaced_model(bundled_copy: Path, tmp_path: Path) -> None:
    pytest.importorskip("tqdm")  # the trainer's extra
    from serapp_train.cli import main

    data = bytearray(bundled_copy.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the weights: still a model, now a different file
    bundled_copy.write_bytes(bytes(data))
    run = REPO / "docs" / "models" / "whisper-tiny"  # the default model's run folder
    assert main(["manifest", "--model", str(bundled_copy), "--run", str(run)]) == 0
    bundle.verify(bundled_copy, folder=tmp_path)
    (entry,) = [m for m in bundle.read_manifest(tmp_path)["models"] if m["file"] == bundle.DEFAULT_MODEL_NAME]
    (shipped,) = [m for m in json.loads((REPO / "assets" / "models" / bundle.MANIFEST_NAME).read_text())["models"]
                  if m["file"] == bundle.DEFAULT_MODEL_NAME]
    assert entry["sha256"] == bundle.sha256_file(bundled_copy) != shipped["sha256"]
    same_run = ("config_sha256", "speakers_sha256")
    assert {k: entry[k] for k in same_run} == {k: shipped[k] for k in same_run}
    assert entry["run"] == run.as_posix()


@pytest.mark.slow
@pytest.mark.corpora
def test_an_installed_wheel_analyses_a_file_with_its_bundled_model(wheel: Path, tmp_path: Path,
                                                                   sample_clips: list[Path]) -> None:
    """The wheel installed into a folder of its own (its dependencies from this environment), run from elsewhere:
    serapp comes from the install, not the checkout, and a damaged installed model is refused."""
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(site), "QT_QPA_PLATFORM": "offscreen"}
    code = "import serapp, serapp.bundle as b; print(serapp.__file__); print(b.default_model_path())"
    where = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                           check=True, timeout=120).stdout.split()
    assert all(Path(p).is_relative_to(site) for p in where), where

    analyze = [sys.executable, "-m", "serapp", "analyze", "--json", str(sample_clips[0])]
    done = subprocess.run(analyze, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (result,) = json.loads(done.stdout)
    summary = result["summary"]
    assert summary["windows"] > 0 and summary["dominant"] in summary["probabilities"]
    from serapp.engine.model import OnnxModel

    assert tuple(summary["probabilities"]) == OnnxModel(site / "serapp_assets/models/serapp-default.onnx").labels

    model = site / "serapp_assets" / "models" / "serapp-default.onnx"
    model.write_bytes(model.read_bytes()[:-1])
    done = subprocess.run(analyze, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "the installation is damaged" in done.stderr, done.stderr


def test_the_about_dialog_shows_the_bundled_card() -> None:
    from serapp.ui.about import model_card_markdown

    assert model_card_markdown() == (REPO / "docs" / "model-card.md").read_text(encoding="utf-8")


def test_serapp_train_without_the_train_extra_says_what_to_install(tmp_path: Path) -> None:
    """The app's install carries the trainer's modules but not its dependencies (tqdm stands for them here)."""
    code = "import sys; sys.modules['tqdm'] = None; from serapp_train.cli import main; sys.exit(main(['data']))"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr == "serapp-train: tqdm is not installed: the trainer needs `pip install 'serapp[train]'`.\n"
