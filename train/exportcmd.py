"""`serapp-train export`: a finished run's ``model.keras`` -> a self-describing ONNX model.

The command parses flags and prints; the export itself (safe-mode checkpoint load, metadata from the run folder,
parity check on held-out clips, optional int8 copy) is :func:`serapp_train.exporting.export_run`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .exporting import export_run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="run folder written by `serapp-train train`")
    parser.add_argument("--out", type=Path, default=None, help="ONNX file to write (default: RUN_DIR/model.onnx)")
    parser.add_argument("--root", type=Path, default=None,
                        help="corpora folder for the parity clips (default: $SERAPP_CORPORA or ../shared/corpora)")
    parser.add_argument("--parity-clips", type=int, default=8, help="held-out clips checked Keras vs ONNX")
    parser.add_argument("--atol", type=float, default=1e-4, help="largest allowed |Keras - ONNX| probability")
    parser.add_argument("--name", default=None, help="the model's name in its metadata (default: the run folder's)")
    parser.add_argument("--int8", action="store_true",
                        help="also write OUT's stem + '-int8.onnx' with int8 weights (check it on validation "
                             "speakers with `serapp-train evaluate` before using it)")
    parser.add_argument("--fp16", action="store_true",
                        help="also write OUT's stem + '-fp16.onnx' with its weights stored as float16 (half the size, "
                             "float32 arithmetic)")
    parser.add_argument("--onto", type=Path, default=None, metavar="MODEL.onnx",
                        help="for a run trained with speaker_adaptation: attach its head to this exported model (same "
                             "features and labels; its own answers stay as they are), writing an adaptable model to "
                             "--out (required)")


def run(args: argparse.Namespace) -> int:
    if args.onto is not None:
        return _attach(args)
    done = export_run(args.run_dir, args.out, name=args.name, int8=args.int8, fp16=args.fp16, root=args.root,
                      parity_clips=args.parity_clips, atol=args.atol)
    info, out = done.info, done.path
    print(f"wrote {out} ({info.family}, labels {', '.join(info.labels)}, T = {info.temperature:.2f}); "
          f"Keras and onnxruntime agree on {done.parity_clips} held-out clips")
    for small, diff in ((done.int8_path, done.int8_diff), (done.fp16_path, done.fp16_diff)):
        if small is not None:
            print(f"wrote {small} ({small.stat().st_size / 1e6:.1f} MB against {out.stat().st_size / 1e6:.1f} MB); "
                  f"largest probability change on {done.parity_clips} held-out clips {diff:.3g}")
    return 0


def _attach(args: argparse.Namespace) -> int:
    from serapp.errors import SerappError

    from .adaptable import attach_run

    if args.out is None or args.int8 or args.fp16 or args.name is not None:
        raise SerappError("--onto writes one adaptable model: give --out, and no --int8, --fp16 or --name (the base "
                          "model's weights and name are kept).")
    done = attach_run(args.run_dir, args.onto, args.out, root=args.root, parity_clips=args.parity_clips,
                      atol=args.atol)
    print(f"wrote {done.path} ({done.path.stat().st_size / 1e6:.1f} MB): {args.onto.name} adapting to its speaker "
          f"after {done.info.adapt_clips} utterances (T = {done.info.adapt_temperature:.2f}); on {done.parity_clips} "
          f"held-out clips its own answers differ from the base's by {done.plain_diff:.1e} and the adapted head's "
          f"from Keras by {done.adapted_diff:.1e}")
    return 0
