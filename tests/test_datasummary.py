"""`serapp-train data` on a real corpus and a manifest."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from serapp_train import datasummary

from serapp.errors import SerappError

pytestmark = pytest.mark.corpora


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    datasummary.add_arguments(parser)
    return parser.parse_args(argv)


def test_summary_counts_savee_and_a_manifest(corpora: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"path,label,speaker,corpus\n{corpora / 'tess/OAF_fear/OAF_back_fear.ogg'},fear,x,mine\n")
    assert datasummary.run(parse("--root", str(corpora), "--corpora", "savee", "--manifest", str(manifest))) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()}
    # savee: 60 per emotion, 120 neutral, 480 clips, 4 speakers, all male, about half an hour
    assert rows["savee"][1:12] == ["60", "60", "60", "60", "120", "60", "60", "480", "4", "4/0", "0.51"]
    assert rows["mine"][3] == "1" and rows["total"][8] == "481"


def test_summary_refuses_an_absent_corpus(corpora: Path) -> None:
    with pytest.raises(SerappError, match="not found: esd"):
        datasummary.run(parse("--root", str(corpora), "--corpora", "esd"))
