"""`serapp-train manifest`: record a bundled model in its folder's manifest (``assets/models/manifest.json``).

The app refuses a bundled model whose size or SHA-256 differs from this record, so run this after replacing a
shipped model. The entry (file identity, the model's own metadata, its run folder's config and speaker hashes)
is :func:`serapp_train.modelmanifest.record`'s.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from serapp.bundle import default_model_path

from .modelmanifest import record

DEFAULT_RUN = Path("docs/models/whisper-tiny")  # the default model's run folder


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=None,
                        help="the bundled ONNX file to record (default: the bundled default model)")
    parser.add_argument("--run", dest="run_dir", type=Path, default=DEFAULT_RUN,
                        help="its run folder: config.json and split.json (default: docs/models/whisper-tiny)")


def run(args: argparse.Namespace) -> int:
    model_path = Path(args.model) if args.model else default_model_path()
    target, entry = record(model_path, Path(args.run_dir))
    print(f"{target}: {entry['file']} ({entry['size_bytes']:,} bytes, sha256 {entry['sha256'][:16]}…)")
    return 0
