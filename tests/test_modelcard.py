"""The model card: its data are the records' figures (:mod:`serapp_train.cardata`), and its Markdown is rendered
from a fixed data object byte for byte as ``tests/golden/model-card.md`` (:mod:`serapp_train.cardrender`).

Regenerate the golden file after a deliberate change of wording: ``SERAPP_UPDATE_GOLDEN=1 pytest
tests/test_modelcard.py``, then read its diff.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
from serapp_train import cardata, cardrender
from serapp_train.cardata import (
    Calibration,
    Candidate,
    CardData,
    ConditionScore,
    CorpusFacts,
    Crossval,
    FamilyChoice,
    Latency,
    ModelFacts,
    Protocol,
    Selection,
    TeacherCheck,
    Teachers,
)
from serapp_train.corpora import Clip
from serapp_train.tables import target_checks

GOLDEN = Path(__file__).parent / "golden" / "model-card.md"
UPDATE_ENV = "SERAPP_UPDATE_GOLDEN"

METRICS = {"n": 300, "accuracy": 0.71, "macro_f1": 0.702, "uar": 0.705, "per_corpus": {
    "crema-d": {"n": 200, "accuracy": 0.68, "macro_f1": 0.671, "uar": 0.69},
    "savee": {"n": 100, "accuracy": 0.77, "macro_f1": 0.76, "uar": 0.75}}}
PRODUCT = {"clips": 300, "fixed_crop_ua": 0.70, "file_analysis_ua": 0.685, "file_analysis_no_speech": 1,
           "replay": {"speech_right": 0.61, "shown": 0.8, "switches_per_utterance": 1.5, "late_pause_speech": 0.02,
                      "utterances": 12, "conversations": 1, "seconds": 120.0, "updates_per_s": 4.0},
           "replay_settings": {"pause_s": [2.0, 8.0], "clips_per_conversation": 12, "late_pause_s": 1.0,
                               "block_s": 0.032}}


ADAPTED = {"session_clips": 40, "clips": 80, "warm_up": 20, "speakers": 2,
           **{name: {"file_analysis_ua": ua, "file_analysis_ua_after_warm_up": after,
                     "replay": {**PRODUCT["replay"], "speech_right": live}}
              for name, ua, after, live in (("plain", 0.6, 0.61, 0.4), ("adapted", 0.64, 0.68, 0.41))}}


def fixed_card() -> CardData:
    """A card's data with every optional section present."""
    return CardData(
        model=ModelFacts(file_name="model.onnx", family="cnn2d", parameters=1234, file_weights=None, size_mb=1.5,
                         spec_kind="logmel", n_mels=64, hop_ms=20.0, duration_s=3.0, sample_rate=16000,
                         shape=(151, 64, 1), labels=("angry", "sad", "surprise"), temperature=0.9, created="2026-01-01",
                         version="0.1.0"),
        latency=Latency(1.25, 2.5, threads=1, cores=2, machine="x86_64"),
        corpora=(CorpusFacts("crema-d", "CREMA-D", "ODbL 1.0 / DbCL", (), ("surprise",), 3),
                 CorpusFacts("savee", "SAVEE", "free for research use", (("ps", "surprise"),), (), 1)),
        protocol=Protocol(protocol="speaker-holdout", speaker_seed=0, test_speakers=("crema-d:1001", "savee:DC"),
                          test_clips=300, val_speakers=2, val_clips=80, train_clips=900, epochs=12, best_epoch=9,
                          members=(), teachers=2, distill_weight=0.5),
        results=METRICS,
        calibration=Calibration(0.9, 0.08, 0.05, 0.07, 0.04),
        robustness=(ConditionScore("clean", 0.71, 0.702, 0.705),
                    ConditionScore("white noise at 10 dB SNR", 0.6, 0.58, 0.59),
                    ConditionScore("laptop chain", 0.66, 0.65, 0.655, 0.64, 0.62),
                    ConditionScore("telephone chain", 0.55, 0.54, 0.545, 0.51, 0.55),
                    ConditionScore("mp3 chain", 0.6, 0.6, 0.61, 0.58)),
        confusion_link="model-card-confusion.png", curves_link="../runs/x/curves.png",
        crossval=Crossval(link="cv/README.md", k=4, protocol="corpus-kfold", speakers=8,
                          per_fold={"crema-d": [1, 1, 1, 1], "savee": [1, 1, 1, 1]}, pooled=METRICS, teachers=0,
                          differs="without distillation"),
        product_path=cardata.product_path({"product_path": PRODUCT}, Path("docs/models/x"),
                                          {"augment": {"p_partial": 0.5}}),
        adaptation=cardata.adaptation({"adaptation": ADAPTED}, Path("docs/models/x"), Path("docs/model-card.md")),
        teachers=Teachers("teachers.json", (TeacherCheck("runs/t1", "its model checksum", "verified", "sha256 equal"),
                                            TeacherCheck("runs/t2", "its speakers", "not recorded", "the run is gone")),
                          note="kept by hand"),
        selection=Selection(
            family=FamilyChoice(chosen="cnn2d", over="cnn1d", judged_on="validation", compare="docs/cmp/report.json",
                                link="cmp/README.md", protocol="speaker-holdout", folds=(1, 2), chosen_uar=0.7,
                                over_uar=0.65, why="higher UAR", shared_speakers=("savee:DC",), shared_clips=120,
                                test_speakers=2),
            scope="printed by the trainer", until_shipped=(Candidate("first", "first.json"), Candidate("second")),
            since_kept=(), ensembles=(Candidate("mix"),), seen=True),
        notes="Tried *this*.\n", command="bash scripts/recipe.sh", run_name="x",
        written_by="serapp-train card docs/models/x")


def test_the_card_renders_its_data_as_the_golden_file() -> None:
    text = cardrender.render(fixed_card())
    if os.environ.get(UPDATE_ENV):
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8"), f"rendering changed; {UPDATE_ENV}=1 rewrites {GOLDEN}"


def test_a_file_whose_own_test_figures_were_not_read_says_so_instead_of_calling_them_optimistic() -> None:
    card = fixed_card()
    seen = cardrender.render(card)
    unseen = cardrender.render(dataclasses.replace(card, selection=dataclasses.replace(card.selection,
                                                                                       own_seen=False)))
    assert "read its test figures as somewhat optimistic" in seen and "were not among them" not in seen
    assert "This file's own test figures were not among them" in unseen and "optimistic" not in unseen
    assert "$" not in unseen


def test_every_placeholder_of_the_template_is_filled() -> None:
    assert "$" not in cardrender.render(fixed_card())
    assert "default-model issue" not in "".join(cardrender.sections().values())


def test_product_path_checks_are_the_records_figures_against_the_targets() -> None:
    pp = cardata.product_path({"product_path": PRODUCT}, Path("docs/models/x"), {"augment": {}})
    checks = {c.measure: c for c in pp.checks}
    assert checks["fixed_crop_ua"].value == PRODUCT["fixed_crop_ua"] and checks["fixed_crop_ua"].met is None
    assert checks["file_analysis_ua"].value == PRODUCT["file_analysis_ua"]
    assert checks["file_analysis_ua"].met is False  # 1.5 points below fixed crops, the target is within 1
    assert checks["speech_right"].met is True and checks["switches_per_utterance"].met is False
    assert checks["late_pause_speech"].met is True and checks["updates_per_s"].met is True
    assert {k: checks[k].value for k in ("speech_right", "shown", "switches_per_utterance", "late_pause_speech",
                                         "updates_per_s")} == {k: PRODUCT["replay"][k] for k in (
        "speech_right", "shown", "switches_per_utterance", "late_pause_speech", "updates_per_s")}
    assert not pp.partial_training and pp.command.endswith("--out docs/models/x/product-path")
    assert cardata.product_path({"product_path": PRODUCT}, Path("x"), {"augment": {"p_partial": 0.5}}).partial_training
    # the live ceiling is a row of records that measured it, without a target; older records have no such row
    assert "final_right" not in checks
    ceiling = {**PRODUCT, "replay": {**PRODUCT["replay"], "final_right": 0.66, "speech_right_ci": [0.52, 0.69]}}
    later = {c.measure: c for c in cardata.product_path({"product_path": ceiling}, Path("x"), {"augment": {}}).checks}
    assert later["final_right"].value == 0.66 and later["final_right"].target is None
    assert "| live ceiling: speech updates the utterance's final answer gets right | 66.0 % |" in \
        cardrender.product_table(cardata.product_path({"product_path": ceiling}, Path("x"), {"augment": {}}))
    assert "| live: speech updates right | 61.0 % (95 % interval over utterances 52.0–69.0 %) | ≥ 60.0 % |" in \
        cardrender.product_table(cardata.product_path({"product_path": ceiling}, Path("x"), {"augment": {}}))



def test_the_product_path_section_shows_the_live_figure_when_the_record_has_one(tmp_path: Path) -> None:
    run = tmp_path / "docs" / "models" / "x"
    card = tmp_path / "docs" / "model-card.md"
    (run / "product-path").mkdir(parents=True)
    assert cardata.product_path({"product_path": PRODUCT}, run, {"augment": {}}, card).figure_link is None
    (run / "product-path" / "live-by-time.png").write_bytes(b"\x89PNG")
    pp = cardata.product_path({"product_path": PRODUCT}, run, {"augment": {}}, card)
    assert pp.figure_link == "models/x/product-path/live-by-time.png"
    assert "](models/x/product-path/live-by-time.png)" in cardrender.product_path_section(pp)


def test_targets_are_read_from_the_metrics() -> None:
    checks = {name: (threshold, value) for name, threshold, value in target_checks(METRICS)}
    assert checks["crema-d uar"] == (0.70, METRICS["per_corpus"]["crema-d"]["uar"])
    assert checks["savee uar"][1] == METRICS["per_corpus"]["savee"]["uar"]
    assert checks["ravdess uar"][1] is None  # no test clips
    assert checks["all accuracy"][1] == METRICS["accuracy"]


def test_corpus_facts_come_from_the_clips_and_the_corpora_readme(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text(
        "# Corpora\n\n| folder | corpus | clips | licence |\n| --- | --- | --- | --- |\n"
        "| `ravdess/Actor_NN/` | RAVDESS, speech audio-only | 1440 | CC BY-NC-SA 4.0 |\n"
        "| `tess/SPK_emotion/` | TESS | 2800 | CC BY-NC-ND 4.0 |\n\nNotes\n")

    def clip(corpus: str, label: str, raw: str, speaker: str) -> Clip:
        return Clip(Path("x.wav"), corpus, label, f"{corpus}:{speaker}", None, raw)

    clips = [clip("ravdess", "neutral", "calm", "01"), clip("ravdess", "neutral", "neutral", "01"),
             clip("ravdess", "fear", "fearful", "02"), clip("tess", "surprise", "ps", "OAF"),
             clip("tess", "angry", "angry", "YAF"), clip("savee", "sad", "sa", "DC")]
    facts = {f.name: f for f in cardata.corpus_facts(["ravdess", "tess", "savee"], clips,
                                                     ["ravdess:01", "ravdess:02", "tess:OAF"], tmp_path,
                                                     ("angry", "fear", "neutral", "sad", "surprise"))}
    assert facts["ravdess"].display == "RAVDESS" and facts["ravdess"].licence == "CC BY-NC-SA 4.0"
    assert facts["ravdess"].relabelled == (("calm", "neutral"),)  # fearful -> fear is spelling, not another class
    assert facts["tess"].relabelled == (("ps", "surprise"),) and facts["tess"].missing == ("fear", "neutral", "sad")
    assert facts["savee"].display == "savee" and facts["savee"].licence == ""  # not in this README
    assert [facts[n].test_speakers for n in ("ravdess", "tess", "savee")] == [2, 1, 0]


def test_cross_validation_figures_are_the_reports(tmp_path: Path) -> None:
    from serapp_train.jsonfile import write_json

    report = {"config": {"protocol": "corpus-kfold", "family": "cnn1d", "teachers": ["a", "b"]},
              "pooled": METRICS, "folds": [{"test_speakers": ["savee:DC", "crema-d:1"]},
                                           {"test_speakers": ["savee:JE"]}]}
    write_json(tmp_path / "cv" / "crossval.json", report)
    cv = cardata.crossval(tmp_path / "cv", {"family": "cnn2d", "teachers": ["t"]}, tmp_path / "docs" / "card.md")
    assert cv.pooled == METRICS and cv.k == 2 and cv.speakers == 3 and cv.teachers == 2
    assert cv.per_fold == {"crema-d": [1, 0], "savee": [1, 1]} and cv.link == "../cv/README.md"
    assert cv.differs == "on `cnn1d`, not the shipped `cnn2d`"


def test_card_names_every_way_the_cross_validated_recipe_differs() -> None:
    shipped = {"family": "cnn2d", "teachers": ["t"], "members": ["a", "b"]}
    assert cardata.folds_differ(shipped, {"family": "crnn_small"}) == \
        "on `crnn_small`, not the shipped `cnn2d`; without distillation; one model, not an ensemble"
    assert cardata.folds_differ(shipped, shipped) == ""


def test_the_card_counts_an_encoder_familys_weights_from_the_file() -> None:
    from serapp.bundle import default_model_path

    assert cardata.file_weights("cnn2d", Path("unused.onnx")) is None
    weights = cardata.file_weights("whisper_tiny", default_model_path())  # the bundled default has Whisper inside
    assert weights is not None and 7_000_000 < weights < 9_000_000


@pytest.mark.parametrize("cores, machine, said", [(2, "x86_64", "one onnxruntime thread on a 2-core x86_64 machine"),
                                                  (0, "", "one onnxruntime thread.")])
def test_latency_states_the_machine_only_as_measured(cores: int, machine: str, said: str) -> None:
    from dataclasses import replace

    card = replace(fixed_card(), latency=Latency(1.0, 2.0, cores=cores, machine=machine))
    assert said in cardrender.render(card)


def test_latency_is_timed_on_one_thread_though_the_card_scores_on_more(
        onnx_model_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The card scores on the machine's cores, but its latency is what live analysis gets: one thread."""
    from serapp.engine.model import OnnxModel, load_model

    timed: list[int] = []
    predict = OnnxModel.predict

    def spy(self: OnnxModel, x: object) -> object:
        timed.append(self.threads)
        return predict(self, x)

    monkeypatch.setattr(OnnxModel, "predict", spy)
    latency = cardata.measure_latency(load_model(onnx_model_path, threads=2), runs=5)
    assert timed == [1] * 15 and 0 < latency.median_ms <= latency.p95_ms
