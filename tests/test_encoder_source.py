"""``encoder_source``: an encoder family's head on another CTranslate2 Whisper model than the whisper extra's tiny.en
(e.g. Whisper base, ``scripts/whisper-base.sh``). The option reaches every place the encoder is read: the
embedding caches the head trains on, and the encoder the export puts in front of it."""

from __future__ import annotations

from pathlib import Path

import pytest
from serapp_train.config import TrainConfig

from serapp.errors import SerappError


def test_only_an_encoder_family_head_on_the_encoder_as_it_is_takes_a_source() -> None:
    source = "cache/whisper-base"
    assert TrainConfig(family="whisper_tiny", encoder_source=source).encoder_source == source
    for bad in ({"family": "crnn_small"}, {"family": "whisper_tiny", "model_options": {"top_blocks": 1}},
                {"family": "whisper_tiny", "encoder_run": "runs/x"}):
        with pytest.raises(SerappError, match="encoder_source is for"):
            TrainConfig(encoder_source="cache/whisper-base", **bad)
    assert TrainConfig.from_dict(TrainConfig(family="whisper_tiny", encoder_source="x").to_dict()).encoder_source == "x"


@pytest.mark.corpora
def test_the_training_data_and_the_export_read_the_named_encoder(tmp_path: Path, corpora: Path) -> None:
    import keras
    from serapp_train.data import load_data
    from serapp_train.fitting import served_model

    absent = tmp_path / "no-such-whisper"
    config = TrainConfig(family="whisper_tiny", limit=2, encoder_source=str(absent))
    with pytest.raises(SerappError, match="no-such-whisper"):  # not the default encoder's cache, silently
        load_data(config, corpora, progress=False)
    head = keras.Sequential([keras.Input((5, 768)), keras.layers.Flatten(), keras.layers.Dense(7)])
    with pytest.raises(SerappError, match="no-such-whisper"):
        served_model(config, head)
