"""Where the live replay's truth spans begin and end, by rule, on the default model's validation speakers.

The replay (``serapp-train evaluate --product``) scores the updates inside each clip's truth span. This prints, per
corpus, the median start and end (s from the clip's start) of the two rules a record may name
(``replay_settings.truth``, :data:`serapp_train.tables.TRUTH_RULES`): ``trim``, the clip as training trims it, and
``speech``, :func:`serapp_train.productpath.speech_bounds`; beside them where the engine's speech detector first and
last hears speech (a 32-ms chunk at ``vad_onset`` or above, the clip between 1 s of silence), a witness that uses
neither rule. Decision 0014 reads it.

    python scripts/replay_truth.py > docs/engine-settings/replay-truth.md
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SPLIT = ROOT / "docs" / "models" / "whisper-tiny" / "split.json"


def main(argv: list[str] | None = None) -> int:
    from serapp_train import corpora
    from serapp_train.evaluation import split_speakers
    from serapp_train.productpath import TRUTH_FRAME_LENGTH, TRUTH_HOP_LENGTH, TRUTH_TOP_DB, speech_bounds
    from serapp_train.tables import TRUTH_RULES, markdown

    from serapp.engine import audio
    from serapp.engine.config import AnalyzerConfig
    from serapp.engine.preprocess import nonsilent_bounds
    from serapp.engine.vad import CHUNK, SAMPLE_RATE, SileroVad
    from serapp.paths import corpora_root

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-corpus", type=int, default=100, help="clips per corpus (a seeded sample)")
    args = parser.parse_args(argv)

    speakers = set(split_speakers(SPLIT, "val"))
    clips = [c for c in corpora.scan(corpora_root()) if c.speaker in speakers]
    rng = np.random.default_rng(0)
    by_corpus: dict[str, list[corpora.Clip]] = defaultdict(list)
    for c in clips:
        by_corpus[c.corpus].append(c)
    onset = AnalyzerConfig().vad_onset
    vad = SileroVad()
    silence = np.zeros(SAMPLE_RATE, np.float32)
    rows = []
    for corpus in sorted(by_corpus):
        group = by_corpus[corpus]
        sample = [group[i] for i in sorted(rng.choice(len(group), min(args.per_corpus, len(group)), replace=False))]
        spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for clip in sample:
            y = audio.load(clip.path, SAMPLE_RATE)
            lo, hi = nonsilent_bounds(y, TRUTH_TOP_DB, TRUTH_FRAME_LENGTH, TRUTH_HOP_LENGTH)
            spans["trim"].append((lo / SAMPLE_RATE, hi / SAMPLE_RATE))
            lo, hi = speech_bounds(y)
            spans["speech"].append((lo / SAMPLE_RATE, hi / SAMPLE_RATE))
            vad.reset()
            heard = np.flatnonzero(vad.push(np.concatenate([silence, y, silence])) >= onset)
            if heard.size:
                first, last = heard[0] * CHUNK - SAMPLE_RATE, (heard[-1] + 1) * CHUNK - SAMPLE_RATE
                spans["detector"].append((first / SAMPLE_RATE, min(y.shape[0], last) / SAMPLE_RATE))
        med = {k: np.median(np.array(v), axis=0) for k, v in spans.items()}
        rows.append([corpus, len(sample), *(f"{med[k][0]:.2f} / {med[k][1]:.2f}" for k in ("trim", "speech",
                                                                                         "detector"))])
    print("# The live replay's truth spans (validation speakers)\n")
    print("Median start / end of a clip's truth span in seconds from the clip's start, by rule; written by "
          "`python scripts/replay_truth.py` (its docstring says how).\n")
    print(markdown(("corpus", "clips", f"trim: {TRUTH_RULES['trim'][0]}", f"speech: {TRUTH_RULES['speech'][0]}",
                    f"speech detector at vad_onset {onset:g} (witness)"), rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
