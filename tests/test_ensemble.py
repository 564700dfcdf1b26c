"""`serapp-train ensemble`: members merged into one ONNX file serve their mean calibrated probability."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from serapp_train import cardata
from serapp_train.cli import main
from serapp_train.config import TrainConfig
from serapp_train.ensembling import merge
from serapp_train.jsonfile import write_json
from serapp_train.runfolder import MemberRef, RunFolder

from serapp.bundle import sha256_file
from serapp.engine.labels import EMOTIONS
from serapp.engine.model import load_model
from serapp.engine.spec import FeatureSpec
from serapp.errors import SerappError
from tests import run_folders
from tests.onnx_models import build_model, save_model
from tests.tiny_models import clip_features

SPEC = FeatureSpec(kind="logmel", hop_length=320)
TEMPERATURES = (0.7, 1.0, 1.6)
SPLIT = {"name": "test-split", "train_speakers": ["savee:KL"], "val_speakers": ["savee:JE"],
         "test_speakers": ["savee:DC"], "train": 120, "val": 120, "test": 120}


def make_run(folder: Path, seed: int, temperature: float, *, spec: FeatureSpec = SPEC,
             labels: tuple[str, ...] = EMOTIONS, split: dict[str, object] = SPLIT) -> Path:
    """A finished run folder as `serapp-train train --export` leaves it, with a small real ONNX model."""
    config = TrainConfig(family="cnn1d", spec=spec, protocol="speaker-holdout", seed=0)
    run = run_folders.make_run(folder, config=config, split=split, metrics={"n_params": 100 + seed})
    save_model(run.model_path, spec, labels, seed=seed, temperature=temperature)
    return folder


def test_merged_file_serves_the_mean_of_its_calibrated_members(tmp_path: Path, sample_clips: list[Path]) -> None:
    members = [build_model(SPEC, seed=i, temperature=t) for i, t in enumerate(TEMPERATURES)]
    path = tmp_path / "merged.onnx"
    merged = merge(members, TEMPERATURES)
    onnx.helper.set_model_props(merged, {p.key: p.value for p in members[0].metadata_props} |
                                {"serapp.temperature": "1.0"})
    onnx.save_model(merged, str(path))
    x = clip_features(tuple(sample_clips[:6]), SPEC)
    singles = []
    for i, member in enumerate(members):
        onnx.save_model(member, str(tmp_path / f"m{i}.onnx"))
        singles.append(load_model(tmp_path / f"m{i}.onnx").predict(x))
    np.testing.assert_allclose(load_model(path).predict(x), np.mean(singles, axis=0), atol=1e-5)
    assert not np.allclose(singles[0], singles[2], atol=1e-3)  # the members really differ
    ops = [node.op_type for node in merged.graph.node]
    # the pooling every member does on the one input runs once; each member's own projection stays
    assert (ops.count("ReduceMean"), ops.count("Flatten"), ops.count("MatMul")) == (1, 1, 3)


def test_members_sharing_weights_store_and_run_them_once(tmp_path: Path, sample_clips: list[Path]) -> None:
    """Two members with the same weights (a frozen encoder, in miniature) and other temperatures: the file holds
    the weights once and computes the member once; each temperature still applies to it."""
    members = [build_model(SPEC, seed=3, temperature=t) for t in (0.7, 1.6)]
    merged = merge(members, (0.7, 1.6))
    weights = [t for t in merged.graph.initializer if t.dims == members[0].graph.initializer[0].dims]
    assert len(weights) == 1
    # the member, its floor and its log once; each temperature's scaling and softmax; the mean
    assert len(merged.graph.node) == len(members[0].graph.node) + 2 + 2 * 2 + 1
    path = tmp_path / "merged.onnx"
    onnx.helper.set_model_props(merged, {p.key: p.value for p in members[0].metadata_props} |
                                {"serapp.temperature": "1.0"})
    onnx.save_model(merged, str(path))
    save_model(tmp_path / "m.onnx", SPEC, seed=3, temperature=1.0)
    x = clip_features(tuple(sample_clips[:4]), SPEC)
    log = np.log(np.maximum(load_model(tmp_path / "m.onnx").predict(x), 1e-12))
    expected = np.mean([np.exp(log / t) / np.exp(log / t).sum(-1, keepdims=True) for t in (0.7, 1.6)], axis=0)
    np.testing.assert_allclose(load_model(path).predict(x), expected, atol=1e-5)


def test_merge_refuses_a_single_member() -> None:
    with pytest.raises(SerappError, match="two or more"):
        merge([build_model(SPEC)], [1.0])


def test_ensemble_command_writes_a_calibrated_run_folder(tmp_path: Path, corpora: Path) -> None:
    runs = [make_run(tmp_path / f"run{i}", i, t) for i, t in enumerate(TEMPERATURES)]
    out = tmp_path / "ensemble"
    assert main(["ensemble", *map(str, runs), "--out", str(out), "--name", "mix", "--root", str(corpora),
                 "--int8"]) == 0
    served = load_model(out / "model.onnx")
    assert served.info.name == "mix" and served.info.family == "ensemble of 3 test"
    assert served.info.spec == SPEC and served.labels == EMOTIONS
    result = json.loads((out / "metrics.json").read_text())
    assert result["n"] == 120 and result["validation"]["n"] == 120  # SAVEE DC tests, JE validates
    assert served.info.temperature == pytest.approx(result["calibration"]["temperature"])
    member_weights = int(np.prod(onnx.load(str(runs[0] / "model.onnx")).graph.initializer[0].dims))
    assert result["n_params"] == 3 * member_weights + 1 + 3  # the weights stored, the floor and 3 temperatures
    small = load_model(out / "model-int8.onnx")  # the int8 copy serves the same model
    assert (small.info.name, small.info.temperature, small.labels) == ("mix", served.info.temperature, EMOTIONS)
    x = clip_features(tuple(sorted(corpora.glob("savee/**/*.ogg"))[:4]), SPEC)
    np.testing.assert_allclose(small.predict(x), served.predict(x), atol=0.05)
    assert json.loads((out / "split.json").read_text()) == SPLIT
    # members by run id and model checksum, as teachers are recorded, not by folder paths no clone has
    assert json.loads((out / "config.json").read_text())["members"] == \
        [{"run_id": r.name, "model_sha256": sha256_file(r / "model.onnx")} for r in runs]
    assert RunFolder(out).member_refs() == tuple(MemberRef(r.name, sha256_file(r / "model.onnx"), None) for r in runs)
    assert RunFolder(out).members() == ("run0", "run1", "run2")
    # an existing folder is never overwritten
    assert main(["ensemble", *map(str, runs), "--out", str(out), "--root", str(corpora)]) == 2
    # the card describes the file as an ensemble of its members
    card = tmp_path / "card.md"
    assert main(["card", str(out), "--model", str(out / "model.onnx"), "--root", str(corpora), "--out", str(card)]) == 0
    assert card.is_file() and (tmp_path / "card-confusion.png").is_file()
    facts = cardata.protocol(RunFolder(out))
    assert facts.members == ("run0", "run1", "run2") and facts.teachers == 0
    model = cardata.model_facts(served, result["n_params"])
    assert model.family == "ensemble of 3 test" and model.file_weights is None
    assert model.parameters == result["n_params"]


@pytest.mark.parametrize(("change", "match"), [
    ({"spec": SPEC.replace(n_mels=48)}, "different feature specs"),
    ({"labels": tuple(reversed(EMOTIONS))}, "different labels"),
    ({"split": SPLIT | {"val_speakers": ["savee:KL"]}}, "different splits"),
])
def test_ensemble_refuses_members_that_disagree(tmp_path: Path, change: dict[str, object], match: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    first = make_run(tmp_path / "a", 0, 1.0)
    other = make_run(tmp_path / "b", 1, 1.0, **change)  # type: ignore[arg-type]
    assert main(["ensemble", str(first), str(other), "--out", str(tmp_path / "out")]) == 2
    assert match in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_ensemble_recorded_by_member_paths_still_reads(tmp_path: Path) -> None:
    """Ensembles made before members were recorded by run id name their member folders by path."""
    run = make_run(tmp_path / "old", 0, 1.0)
    record = json.loads((run / "config.json").read_text())
    write_json(run / "config.json", {**record, "members": ["runs/a/run0", "runs/b/run1"]})
    folder = RunFolder(run)
    assert folder.members() == ("runs/a/run0", "runs/b/run1")
    assert folder.member_refs() == (MemberRef("run0", None, "runs/a/run0"), MemberRef("run1", None, "runs/b/run1"))
    assert folder.config() == TrainConfig.from_dict(record)


def test_ensemble_refuses_an_unfinished_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = make_run(tmp_path / "a", 0, 1.0)
    other = make_run(tmp_path / "b", 1, 1.0)
    (other / "metrics.json").unlink()
    assert main(["ensemble", str(first), str(other), "--out", str(tmp_path / "out")]) == 2
    assert "not a finished, exported run (it lacks metrics.json)" in capsys.readouterr().err
