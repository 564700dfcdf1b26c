"""`serapp-train crowd`: give an adaptable Whisper model a crowd check (a head on its embedding that calls a hall's
babble no speech), learnt on a split's training speakers, its threshold chosen on its validation speakers.

The command parses flags and prints; the work is :func:`serapp_train.crowd.make_crowd_check`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .crowd import CROWD_DEFAULTS, make_crowd_check, render, write_records


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="an adaptable Whisper ONNX model (export RUN --onto MODEL)")
    parser.add_argument("--split", type=Path, required=True, help="the model's run's split.json")
    parser.add_argument("--out", type=Path, required=True,
                        help="ONNX file to write (may be MODEL itself: written atomically after the checks)")
    parser.add_argument("--record", type=Path, default=None,
                        help="folder for crowd.json and crowd.md (the figures per kind of utterance)")
    parser.add_argument("--root", type=Path, default=None,
                        help="corpora folder (default: $SERAPP_CORPORA or ../shared/corpora)")
    parser.add_argument("--clips", type=int, default=CROWD_DEFAULTS["clips"], help="clips per corpus of each part")
    parser.add_argument("--crowds", type=int, default=CROWD_DEFAULTS["crowds"],
                        help="crowds made of the training clips (half as many of the validation clips)")
    parser.add_argument("--seed", type=int, default=CROWD_DEFAULTS["seed"])
    parser.add_argument("--c", type=float, default=CROWD_DEFAULTS["c"], help="inverse L2 strength of the logistic head")
    parser.add_argument("--max-speech-loss", type=float, default=CROWD_DEFAULTS["max_speech_loss"],
                        help="share of the validation speakers' speech the threshold may call a crowd")


def run(args: argparse.Namespace) -> int:
    from serapp.paths import corpora_root

    done = make_crowd_check(args.model, args.split, args.out, root=args.root or corpora_root(),
                            clips_per_corpus=args.clips, crowds=args.crowds, seed=args.seed, c=args.c,
                            max_speech_loss=args.max_speech_loss, say=lambda m: print(m, file=sys.stderr, flush=True))
    text = (render(done.record) if args.record is None
            else write_records(args.record, {**done.record, "command": args.command_line}))
    print(text)
    print(f"wrote {done.path}: utterances whose crowd probability averages {done.threshold:.3f} or more are no speech")
    return 0
