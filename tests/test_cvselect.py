"""`serapp-train select`: variants ranked by speaker cross-validation that never touches the test speakers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from serapp_train.cli import main
from serapp_train.config import TrainConfig
from serapp_train.data import load_data

from serapp.errors import SerappError
from tests.whisper_support import require_whisper_extra


def _search(tmp_path: Path, variants: list[dict[str, object]]) -> Path:
    base = TrainConfig(family="whisper_tiny", protocol="speaker-holdout", limit=16, epochs=2, batch_size=16,
                       seed=1)
    (tmp_path / "base.json").write_text(base.to_json())
    path = tmp_path / "search.json"
    path.write_text(json.dumps({"base": "base.json", "k": 2, "variants": variants}))
    return path


@pytest.mark.corpora
@pytest.mark.slow
def test_variants_are_ranked_on_the_non_test_speakers(corpora: Path, tmp_path: Path) -> None:
    require_whisper_extra()
    search = _search(tmp_path, [{"model_options": {"hidden": 0}}, {"dropout": 0.5}])
    assert main(["select", str(search), "--root", str(corpora), "--out", str(tmp_path / "out")]) == 0
    record = json.loads((tmp_path / "out" / "search.json").read_text())
    scores = [r["uar"] for r in record["ranking"]]
    assert scores == sorted(scores, reverse=True) and all(0.0 <= s <= 1.0 for s in scores)

    assert {json.dumps(r["variant"], sort_keys=True) for r in record["ranking"]} == {
        json.dumps({"model_options": {"hidden": 0}}), json.dumps({"dropout": 0.5})}

    data = load_data(TrainConfig.from_dict(record["base"]), corpora, progress=False)
    test = {data.clips[i].speaker for i in data.split.test}
    rest = {data.clips[i].speaker for i in (*data.split.train, *data.split.val)}
    assert set(record["test_speakers_excluded"]) == test and record["speakers"] == len(rest)
    assert not test & rest
    # scored: the corpora with two or more non-test speakers (one alone always trains, so is never held out)
    rows = [i for i in (*data.split.train, *data.split.val)]
    speakers_of = {c: {data.clips[i].speaker for i in rows if data.clips[i].corpus == c} for c in
                   {data.clips[i].corpus for i in rows}}
    held = {c for c, who in speakers_of.items() if len(who) >= 2}
    for r in record["ranking"]:
        assert set(r["per_corpus"]) == held
        assert r["scored"] == sum(data.clips[i].corpus in held for i in rows)
    assert not list(tmp_path.glob("*.keras")) and not list(Path.cwd().glob("model.keras"))


def test_a_bad_search_file_is_refused_before_any_fit(tmp_path: Path) -> None:
    from serapp_train.cvselect import read_search

    with pytest.raises(SerappError, match="not a search file"):
        read_search(tmp_path / "missing.json")
    with pytest.raises(SerappError, match="variants"):
        read_search(_search(tmp_path, []))
    with pytest.raises(SerappError, match="not a training config change"):
        read_search(_search(tmp_path, [{"dropout": 0.5}, {"no_such_field": 1}]))
    with pytest.raises(SerappError, match="dropout"):  # out of range: the config's own check
        read_search(_search(tmp_path, [{"dropout": 2.0}]))
    with pytest.raises(SerappError, match="changes the head's pooling"):  # its data would come from another cache
        read_search(_search(tmp_path, [{}, {"model_options": {"pooling": "attention"}}]))
