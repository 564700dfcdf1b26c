"""Metrics against values worked out by hand on tiny arrays; calibration; plots."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from serapp_train import metrics

from serapp.errors import SerappError

LABELS = ["a", "b", "c"]
# By hand: class a P=2/2 R=2/3 F1=0.8; b P=1/2 R=1/2 F1=0.5; c P=1/2 R=1/1 F1=2/3.
Y_TRUE = np.array([0, 0, 0, 1, 1, 2])
Y_PRED = np.array([0, 0, 1, 1, 2, 2])
CORPORA = np.array(["x", "x", "x", "y", "y", "y"])


def test_headline_scores_by_hand() -> None:
    m = metrics.evaluate(Y_TRUE, Y_PRED, LABELS)
    assert m.n == 6
    assert m.accuracy == pytest.approx(4 / 6)
    assert m.macro_f1 == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert m.weighted_f1 == pytest.approx((3 * 0.8 + 2 * 0.5 + 1 * 2 / 3) / 6)
    assert m.uar == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert m.confusion == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert m.per_class["a"].precision == pytest.approx(1.0)
    assert m.per_class["a"].recall == pytest.approx(2 / 3)
    assert m.per_class["b"].f1 == pytest.approx(0.5)
    assert m.per_class["c"].precision == pytest.approx(0.5)
    assert [m.per_class[k].support for k in LABELS] == [3, 2, 1]


def test_probabilities_are_argmaxed() -> None:
    probs = np.eye(3, dtype=np.float32)[Y_PRED] * 0.8 + 0.2 / 3
    assert metrics.evaluate(Y_TRUE, probs, LABELS).to_dict() == metrics.evaluate(Y_TRUE, Y_PRED, LABELS).to_dict()


def test_per_corpus_restricted_to_its_classes() -> None:
    m = metrics.evaluate(Y_TRUE, Y_PRED, LABELS, corpora=CORPORA)
    x, y = m.per_corpus["x"], m.per_corpus["y"]
    # corpus x has only class a: predicting b once is wrong; F1 over {a}: P=1, R=2/3.
    assert x.labels == ["a"] and x.n == 3
    assert x.accuracy == pytest.approx(2 / 3)
    assert x.uar == pytest.approx(2 / 3)
    assert x.macro_f1 == pytest.approx(0.8)
    # corpus y has b and c: b P=1 R=1/2, c P=1/2 R=1.
    assert y.labels == ["b", "c"]
    assert y.macro_f1 == pytest.approx(2 / 3)
    assert y.uar == pytest.approx(0.75)
    assert y.confusion == [[1, 1], [0, 1]]


def test_metrics_json_round_trip() -> None:
    d = json.loads(metrics.evaluate(Y_TRUE, Y_PRED, LABELS, corpora=CORPORA).to_json())
    assert d["per_corpus"]["y"]["per_class"]["c"]["recall"] == pytest.approx(1.0)
    assert metrics.report(Y_TRUE, Y_PRED, LABELS)["accuracy"] == pytest.approx(4 / 6)
    text = metrics.format_report(d)
    assert "macro-F1 0.656" in text and "corpus" in text


@pytest.mark.parametrize(("y_true", "y_pred"), [(Y_TRUE, Y_PRED[:5]), (Y_TRUE, Y_PRED + 1), (Y_TRUE[:0], Y_PRED[:0])])
def test_bad_inputs_are_refused(y_true: np.ndarray, y_pred: np.ndarray) -> None:
    with pytest.raises(SerappError):
        metrics.evaluate(y_true, y_pred, LABELS)


def test_ece_by_hand() -> None:
    # confidences 0.9 (right), 0.9 (wrong) -> bin 13: |0.5 - 0.9| x 2; 0.58 (right), 0.55 (wrong) -> bin 8:
    # |0.5 - 0.565| x 2. ECE = (0.8 + 0.13) / 4.
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.42, 0.58], [0.55, 0.45]])
    y = np.array([0, 1, 1, 1])
    assert metrics.ece(probs, y) == pytest.approx(0.2325)
    assert metrics.ece(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0, 1])) == pytest.approx(0.0)


def test_fit_temperature_recovers_the_true_temperature() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0.0, 3.0, size=(4000, 5))
    true_t = 2.0
    p = np.exp(logits / true_t)
    p /= p.sum(axis=1, keepdims=True)
    y = np.array([rng.choice(5, p=row) for row in p])
    t_logits = metrics.fit_temperature(logits, y, from_logits=True)
    assert t_logits == pytest.approx(true_t, rel=0.1)
    # from probabilities softmax(logits): log p = logits + const per row, so the same temperature
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    t_probs = metrics.fit_temperature(probs, y)
    assert t_probs == pytest.approx(t_logits, rel=1e-2)
    calibrated = metrics.apply_temperature(probs, t_probs)
    assert metrics.nll(calibrated, y) < metrics.nll(probs, y)
    assert metrics.ece(calibrated, y) < metrics.ece(probs, y)
    np.testing.assert_allclose(metrics.apply_temperature(probs, 1.0), probs, atol=1e-6)


def test_plots_write_pngs(tmp_path) -> None:
    cm = np.array(metrics.evaluate(Y_TRUE, Y_PRED, LABELS).confusion)
    for path in (metrics.plot_confusion(cm, LABELS, tmp_path / "cm.png", title="test"),
                 metrics.plot_history({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "accuracy": [0.4, 0.6],
                                       "val_accuracy": [0.3, 0.5]}, tmp_path / "curves.png")):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 3000
        with Image.open(path) as image:
            assert image.mode == "P"  # palette-quantised: written small (serapp_train.figures)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cm.png", "curves.png"]
