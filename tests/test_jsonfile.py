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
