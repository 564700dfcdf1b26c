"""Records on disk: the trainer's one JSON layout (sorted keys, indented, lists of numbers on one line)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from serapp_train.jsonfile import read_json, write_json


def test_records_keep_their_values_with_lists_of_numbers_on_one_line(tmp_path: Path) -> None:
    value = {"confusion": np.array([[3, 1], [0, 4]]), "uar": np.float32(0.5), "labels": ["a", "b"],
             "per_utterance": [[8, 4], [7, 7]], "ci": [0.25, None, True], "empty": [], "nested": {"z": 1, "a": {}}}
    path = write_json(tmp_path / "metrics.json", value)
    text = path.read_text()
    expected = json.loads(json.dumps(value, default=lambda v: v.tolist() if hasattr(v, "tolist") else v))
    assert read_json(path) == expected  # the same values as json.dumps would give
    assert '"confusion": [\n    [3, 1],\n    [0, 4]\n  ]' in text and '"ci": [0.25, null, true]' in text
    assert '"labels": [\n    "a",\n    "b"\n  ]' in text  # strings keep a line each
    assert text.index('"ci"') < text.index('"confusion"') < text.index('"nested"') and text.endswith("}\n")


def test_long_lists_of_short_rows_are_packed_several_rows_to_a_line(tmp_path: Path) -> None:
    """A replay's per-utterance counts (thousands of pairs) take a few dozen lines, not one per pair."""
    pairs = [[i % 9, i % 5] for i in range(1000)]
    value = {"per_utterance": pairs, "square": [[1, 2, 3, 4]] * 4, "wide": [[1, 2, 3, 4, 5]] * 9}
    text = write_json(tmp_path / "r.json", value).read_text()
    assert read_json(tmp_path / "r.json") == value
    lines = text.splitlines()
    assert 50 < len(lines) < 120 and max(len(line) for line in lines) <= 118
    assert '"square": [\n    [1, 2, 3, 4],\n    [1, 2, 3, 4],' in text  # a few rows (a confusion matrix): one each
    assert text.count("[1, 2, 3, 4, 5]") == 9 and '    [1, 2, 3, 4, 5],\n' in text  # long rows: one each


def test_small_dicts_of_numbers_take_one_line_and_others_keep_a_line_per_key(tmp_path: Path) -> None:
    """A class's figures on one line (records hold one such dict per class, corpus and fold); a dict with text, or
    one too wide for a line, keeps a line per key."""
    value = {"per_class": {"angry": {"f1": 0.5, "precision": 0.25, "recall": 1.0, "support": 40}},
             "named": {"run": "r1", "uar": 0.5}, "wide": {f"k{i}": 0.123456789012345 for i in range(9)}}
    text = write_json(tmp_path / "m.json", value).read_text()
    assert read_json(tmp_path / "m.json") == value
    assert '    "angry": {"f1": 0.5, "precision": 0.25, "recall": 1.0, "support": 40}\n' in text
    assert '"named": {\n    "run": "r1",\n    "uar": 0.5\n  }' in text
    assert '"wide": {\n    "k0": 0.123456789012345,' in text
    assert max(len(line) for line in text.splitlines()) <= 118
