"""`serapp-train table`: product-path records rendered side by side; different speakers or a wrong record refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from serapp_train.cli import main

from serapp.errors import SerappError


def _record(path: Path, fixed: float, speakers: list[str], truth: str | None = "speech") -> Path:
    replay = {"speech_right": 0.287, "switches_per_utterance": 0.9167, "late_pause_speech": 0.0,
              **({} if truth is None else {"final_right": 0.4512})}  # the older record has no ceiling either
    settings = {"pause_s": [2.0, 8.0], **({} if truth is None else {"truth": truth})}
    path.write_text(json.dumps({"part": "val", "speakers": speakers, "product_path": {
        "fixed_crop_ua": fixed, "file_analysis_ua": 0.5794, "replay": replay, "replay_settings": settings}}))
    return path


def test_records_become_one_table(tmp_path: Path) -> None:
    a = _record(tmp_path / "a.json", 0.613, ["c:1", "c:2"])
    b = _record(tmp_path / "b.json", 0.568, ["c:2", "c:1"], truth=None)  # recorded before the truth rule was
    out = tmp_path / "table.md"
    assert main(["table", f"whisper={a}", f"cnn={b}", "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0].startswith("| model | fixed-crop UA |") and len(lines) == 4
    assert lines[2] == "| whisper | 61.3 % | 57.9 % | 28.7 % | 45.1 % | 0.92 | 0.0 % | speech over the room |"
    assert lines[3].startswith("| cnn | 56.8 % |") and lines[3].endswith("| 28.7 % | – | 0.92 | 0.0 % | trimmed clip |")
    assert main(["table", f"onsets 2 chunks={a}", "--rows", "engine settings", "--out", str(out)]) == 0
    assert out.read_text().splitlines()[0].startswith("| engine settings | fixed-crop UA |")


def test_different_speakers_or_records_are_refused(tmp_path: Path) -> None:
    from serapp_train.cli import build_parser

    def run(*items: str) -> None:
        args = build_parser().parse_args(["table", *items])
        args.run(args)

    a = _record(tmp_path / "a.json", 0.6, ["c:1"])
    with pytest.raises(SerappError, match="different speakers"):
        run(f"a={a}", f"b={_record(tmp_path / 'b.json', 0.6, ['c:9'])}")
    (tmp_path / "plain.json").write_text(json.dumps({"uar": 0.5}))
    with pytest.raises(SerappError, match="not an `evaluate --product` record"):
        run(f"a={tmp_path / 'plain.json'}")
    with pytest.raises(SerappError, match="NAME=PATH"):
        run(str(a))


def test_plain_records_give_fixed_crop_figures_under_their_condition(tmp_path: Path) -> None:
    def plain(path: Path, condition: str, uar: float) -> str:
        path.write_text(json.dumps({"part": "val", "speakers": ["c:1"], "condition": condition, "n": 813,
                                    "accuracy": 0.599, "macro_f1": 0.5951, "uar": uar}))
        return str(path)

    out = tmp_path / "devices.md"
    assert main(["table", f"shipped={plain(tmp_path / 'a.json', 'mp3 chain', 0.592)}",
                 f"codecs={plain(tmp_path / 'b.json', 'mp3 chain', 0.6071)}", "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "| model | condition | clips | accuracy | macro-F1 | UAR |"
    assert lines[1] == "|---|---|---:|---:|---:|---:|"
    assert lines[2:] == ["| shipped | mp3 chain | 813 | 59.9 % | 0.595 | 59.2 % |",
                         "| codecs | mp3 chain | 813 | 59.9 % | 0.595 | 60.7 % |"]
    # a product record among them: the product columns, which a plain record cannot fill
    product = _record(tmp_path / "p.json", 0.6, ["c:1"])
    with pytest.raises(SerappError, match="not an `evaluate --product` record"):
        from serapp_train.cli import build_parser

        args = build_parser().parse_args(["table", f"p={product}", f"a={tmp_path / 'a.json'}"])
        args.run(args)


def test_records_that_replayed_the_same_utterances_get_a_paired_comparison(tmp_path: Path) -> None:
    def record(path: Path, rights: list[int], updates: list[int] | None = None) -> str:
        n = updates or [8] * len(rights)
        replay = {"speech_right": sum(rights) / sum(n), "switches_per_utterance": 0.5, "late_pause_speech": 0.0,
                  "final_right": 0.6, "speech_right_ci": [0.3, 0.5],
                  "per_utterance": [list(p) for p in zip(n, rights, strict=True)]}
        path.write_text(json.dumps({"part": "val", "speakers": ["c:1"], "product_path": {
            "fixed_crop_ua": 0.6, "file_analysis_ua": 0.6, "replay": replay, "replay_settings": {"truth": "speech"}}}))
        return str(path)

    base = record(tmp_path / "a.json", [4] * 40)
    better = record(tmp_path / "b.json", [8] * 40)  # every utterance right throughout: surely better
    same = record(tmp_path / "c.json", [3, 5] * 20)  # as many right, spread otherwise: no difference to claim
    out = tmp_path / "t.md"
    assert main(["table", f"base={base}", f"better={better}", f"same={same}", "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0].endswith("| live vs first row (95 % interval) |")
    assert lines[2].startswith("| base | 60.0 % | 60.0 % | 50.0 % (30.0–50.0) | 60.0 % |")
    assert lines[2].endswith("| reference |") and lines[3].endswith("| +50.0 (+50.0 to +50.0) |")
    low, high = (float(v) for v in lines[4].split("(")[-1].rstrip(" |)").split(" to "))
    assert lines[4].startswith("| same |") and low < 0 < high
    # other utterances (another update count somewhere): no paired column, the rows are still shown
    other = record(tmp_path / "d.json", [4] * 40, updates=[8] * 39 + [9])
    assert main(["table", f"base={base}", f"other={other}", "--out", str(out)]) == 0
    assert "live vs first row" not in out.read_text()
