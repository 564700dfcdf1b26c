"""Reliability figures (issue 32): each class of hostile or careless input generated, run through serapp's own
entry points, and counted as answered, refused plainly, crash, hang or wrong answer.

Classes (generators shared with the tests: tests/audio_mutations.py, tests/lying_models.py):

- files: the mutated real files of the first fuzz (bit flips, truncation, header flips, lying sizes, junk,
  header only); random cuts of WAV/FLAC/AIFF/AU/MP3 (wrong: analysed with more than 1 % or 0.1 s missing);
  false bits-per-sample (wrong: decoded to other samples than the file holds); pipe-streamed WAV sizes (wrong:
  refused, or not read whole); non-regular paths (wrong: not refused); file names of random bytes (wrong: not
  analysed).
- models: outputs that are not probabilities, fixed batch axes and huge specs (wrong: loaded); random byte flips
  (wrong: probabilities served that are not probabilities); non-finite or fractional spec numbers in every numeric
  field (wrong: accepted).
- writes: export names of 1-300 bytes (wrong: a name that fits refused, one that does not accepted, or a temp file
  left) and non-regular or link targets (wrong: replaced).
- stdout: `serapp analyze` into a closed pipe, /dev/full and a file on a disk that fills at four points (wrong: a
  status other than 141 / 2, or a partial result left in the file).

A crash is any exception other than :class:`SerappError` (or a traceback on stderr); a hang is no answer within
``--timeout`` seconds. Prints a Markdown table and writes the counts to runs/fuzz/<time>.json. Exit 1 when any
crash, hang or wrong answer was seen. Needs the corpora (real speech is mutated).

    python benchmarks/fuzz_figures.py [--seeds 10] [--timeout 20] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from serapp import atomic  # noqa: E402
from serapp.engine import audio  # noqa: E402
from serapp.engine.analysis import analyze_file  # noqa: E402
from serapp.engine.config import AnalyzerConfig  # noqa: E402
from serapp.engine.model import check_windows, load_model  # noqa: E402
from serapp.engine.spec import FeatureSpec  # noqa: E402
from serapp.errors import SerappError  # noqa: E402
from serapp.paths import corpora_root  # noqa: E402
from tests import audio_mutations as am  # noqa: E402
from tests import lying_models as lm  # noqa: E402
from tests.conftest import SAMPLE_CLIPS  # noqa: E402
from tests.onnx_models import save_model  # noqa: E402

OUTCOMES = ("answered", "refused", "crash", "hang", "wrong")
CONFIG = AnalyzerConfig(hop_s=1.0)


class Wrong(Exception):
    """A result that breaks the class's truth (e.g. a truncated file analysed as whole)."""


def outcome(call: Callable[[], bool], timeout_s: float) -> str:
    """Run ``call`` (True: it answered; False: it refused plainly, as it should) in a thread and classify it."""
    box: list[str] = []

    def run() -> None:
        try:
            box.append("answered" if call() else "refused")
        except SerappError:
            box.append("refused")
        except Wrong:
            box.append("wrong")
        except Exception:  # anything else escaping is a crash: the figure this script exists to count
            box.append("crash")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout_s)
    return box[0] if box else "hang"


def _analysed(path: Path, model: Any) -> bool:
    y = audio.load(path, am.SR)
    fa = analyze_file(path, model, CONFIG)
    probs = [w.probs for w in fa.timeline if w.probs is not None]
    if not np.isfinite(y).all() or (probs and not np.allclose(np.sum(probs, axis=-1), 1, atol=1e-3)):
        raise Wrong(path)
    return True


def file_cases(folder: Path, model: Any, seeds: int) -> Iterator[tuple[str, Callable[[], bool]]]:
    clips = [corpora_root() / c / rel for c, items in SAMPLE_CLIPS.items() for rel in items]
    speech = am.speech_excerpt(clips)
    bases, more = am.base_files(speech, clips), am.more_base_files(speech)
    n = 0

    def write(data: bytes, name: str = "") -> Path:
        nonlocal n
        n += 1
        path = folder / (name or f"f{n}")
        path.write_bytes(data)
        return path

    for base in bases:
        for mutation in am.MUTATIONS:
            for seed in range(seeds):
                path = write(am.mutate(bases, base, mutation, seed))
                yield "files: mutated (first fuzz)", lambda p=path: _analysed(p, model)
    for data in {**bases, **more}.values():
        full = audio.load(write(data), am.SR).size
        for seed in range(seeds):
            cut = write(data[: int(np.random.default_rng([seed, 7]).integers(len(data) // 10, len(data) - 1))])

            def truncated(p: Path = cut, full: int = full) -> bool:
                if audio.load(p, am.SR).size < full - max(0.01 * full, 0.1 * am.SR) - 1:
                    raise Wrong(p)
                return _analysed(p, model)
            yield "files: truncated", truncated
    for base in ("wav16", "wavfloat"):
        truth = audio.load(write(bases[base]), am.SR)
        for seed in range(2 * seeds):
            lie = write(am.lie_bits(bases[base], np.random.default_rng(seed)))

            def bits(p: Path = lie, truth: np.ndarray = truth) -> bool:
                if not np.allclose(audio.load(p, am.SR), truth, atol=1e-4):
                    raise Wrong(p)
                return True
            yield "files: false bits per sample", bits
            streamed = write(am.stream_sizes(bases[base], np.random.default_rng(seed)))

            def whole(p: Path = streamed, truth: np.ndarray = truth) -> bool:
                try:
                    same = np.array_equal(audio.load(p, am.SR), truth)
                except SerappError as exc:
                    raise Wrong(p) from exc
                if not same:
                    raise Wrong(p)
                return _analysed(p, model)
            yield "files: pipe-streamed WAV sizes", whole
    special = folder / "special"
    special.mkdir()
    for path in am.non_regular_paths(special).values():
        for entry in (audio.load, lambda p: analyze_file(p, model, CONFIG), load_model):
            def refused(p: Path = path, entry: Callable[[Path], object] = entry) -> bool:
                entry(p)
                raise Wrong(p)  # a pipe, device, socket or folder must never be read
            yield "files: non-regular paths", refused
    names = folder / "names"
    names.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4 * seeds):
        raw = bytes(b for b in rng.integers(1, 256, int(rng.integers(1, 40)), dtype=np.uint8) if b != ord("/"))
        raw = raw if raw not in (b"", b".", b"..") else b"x"
        target = os.path.join(os.fsencode(names), raw + str(i).encode())
        with open(target, "wb") as f:
            f.write(bases["wav16"])

        def named(t: bytes = target) -> bool:
            try:
                return _analysed(Path(os.fsdecode(t)), model)
            except SerappError as exc:
                raise Wrong(t) from exc
        yield "files: names of random bytes", named


def model_cases(folder: Path, good: Path, seeds: int) -> Iterator[tuple[str, Callable[[], bool]]]:
    def must_refuse(path: Path) -> Callable[[], bool]:
        def call() -> bool:
            load_model(path)
            raise Wrong(path)
        return call

    for name, change in lm.NOT_PROBABILITIES.items():
        yield "models: outputs not probabilities", must_refuse(lm.lying_model(folder / f"{name}.onnx", change))
    rng = np.random.default_rng(1)
    for i in range(2 * seeds):
        factor, offset = float(rng.uniform(-10, 10)), float(rng.uniform(-1, 1))
        path = lm.lying_model(folder / f"affine{i}.onnx", lm.scaled(factor, offset))
        yield "models: outputs not probabilities", must_refuse(path)
    for batch in (1, 2, 8):
        yield "models: fixed batch", must_refuse(lm.fixed_batch_model(folder / f"b{batch}.onnx", batch))
    yield "models: huge spec", must_refuse(lm.huge_spec_model(folder / "huge1.onnx", n_fft=2**24))
    yield "models: huge spec", must_refuse(lm.huge_spec_model(folder / "huge2.onnx", hop_length=1, duration_s=30.0,
                                                              sample_rate=48000, win_length=2, n_fft=4096))
    data = good.read_bytes()
    for flips in (1, 5, 20):
        for seed in range(3 * seeds):
            path = folder / f"flip{flips}-{seed}.onnx"
            path.write_bytes(lm.flip_bytes(data, flips, np.random.default_rng([seed, flips])))

            def flipped(p: Path = path) -> bool:
                model = load_model(p)
                probs = model.predict(check_windows(model.info.spec))
                if not (np.isfinite(probs).all() and np.allclose(probs.sum(axis=-1), 1, atol=1e-3)):
                    raise Wrong(p)
                return True
            yield "models: byte flips", flipped
    text = FeatureSpec().to_json()
    values = json.loads(text)
    for field, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, list)):
            continue
        old = json.dumps(value, separators=(",", ":"))
        for bad in ("Infinity", "-Infinity", "NaN", "1e400", "1e300", "2.5"):
            new = f"[{bad},64]" if isinstance(value, list) else bad

            def spec_number(t: str = text.replace(f'"{field}":{old}', f'"{field}":{new}'), bad: str = bad) -> bool:
                FeatureSpec.from_json(t)
                if bad in ("Infinity", "-Infinity", "NaN", "1e400"):
                    raise Wrong(t)
                return True
            yield "models: spec numbers", spec_number


def write_cases(folder: Path) -> Iterator[tuple[str, Callable[[], bool]]]:
    out = folder / "exports"
    out.mkdir()
    for length in (*range(1, 300, 7), 237, 246, 254, 255, 256):
        target = out / ("n" * max(1, length - 4) + ".csv")

        def named(t: Path = target) -> bool:
            fits = len(os.fsencode(t.name)) <= 255
            try:
                atomic.write_text(t, "x")
                written = True
            except SerappError:
                written = False
            left = [p.name for p in out.iterdir() if p.name.startswith(".")]  # temp files left behind
            for p in out.iterdir():
                p.unlink()
            if written != fits or left:
                raise Wrong(t)
            return written
        yield "writes: export names", named
    special = folder / "targets"
    special.mkdir()
    fifo, sub, sock_path, link, real = (special / n for n in ("pipe", "dir", "sock", "link", "real"))
    os.mkfifo(fifo)
    sub.mkdir()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(sock_path))
    sock.close()
    real.write_text("mine")
    link.symlink_to(real)
    targets = [fifo, sub, sock_path, link]
    try:
        os.mknod(special / "dev", stat.S_IFCHR | 0o600, os.makedev(1, 3))
        targets.append(special / "dev")
    except OSError:
        pass
    for target in targets:
        def refused(t: Path = target) -> bool:
            before = os.lstat(t).st_mode
            try:
                atomic.write_text(t, "x")
            except SerappError:
                if os.lstat(t).st_mode != before or real.read_text() != "mine":
                    raise Wrong(t) from None
                return False
            raise Wrong(t)
        yield "writes: non-regular and link targets", refused


def stdout_cases(folder: Path, model: Path) -> Iterator[tuple[str, Callable[[], bool]]]:
    clips = [str(corpora_root() / c / rel) for c, items in SAMPLE_CLIPS.items() for rel in items][:6]

    def run(fmt: list[str], *, close: bool = False, full: bool = False, limit: int | None = None) -> bool:
        argv = [sys.executable, "-m", "serapp", "analyze", *fmt, "--hop", "0.1", "--model", str(model), *clips]
        out_path = folder / "stdout.out"
        with open("/dev/full" if full else out_path, "wb") as sink:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE if close else sink, stderr=subprocess.PIPE,
                                    cwd=REPO, preexec_fn=(lambda: resource.setrlimit(
                                        resource.RLIMIT_FSIZE, (limit, limit))) if limit else None)
            if close and proc.stdout is not None:
                proc.stdout.close()
            err = proc.stderr.read().decode() if proc.stderr else ""
            code = proc.wait(120)
        if "Traceback" in err:
            raise RuntimeError(err)
        expected = 141 if close else 2
        if code != expected or (limit and out_path.stat().st_size != 0):
            raise Wrong((code, err))
        return False

    for fmt in ([], ["--json"], ["--csv"]):
        yield "stdout: closed pipe", lambda fmt=fmt: run(fmt, close=True)
        yield "stdout: /dev/full", lambda fmt=fmt: run(fmt, full=True)
    for limit in (1, 4096, 8192, 20000):
        yield "stdout: disk fills up", lambda limit=limit: run(["--json"], limit=limit)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds per generated case (default 10)")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds before an input counts as a hang")
    parser.add_argument("--json", action="store_true", help="print the counts as JSON only")
    args = parser.parse_args()
    counts: dict[str, Counter[str]] = {}
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="serapp-fuzz-") as tmp:
        folder = Path(tmp)
        model_path = save_model(folder / "model.onnx", FeatureSpec())
        model = load_model(model_path)
        (folder / "files").mkdir()
        (folder / "models").mkdir()
        cases = [*file_cases(folder / "files", model, args.seeds), *model_cases(folder / "models", model_path,
                                                                                args.seeds),
                 *write_cases(folder), *stdout_cases(folder, model_path)]
        for name, call in cases:
            counts.setdefault(name, Counter())[outcome(call, args.timeout)] += 1
    table = {name: {o: c[o] for o in OUTCOMES} | {"inputs": sum(c.values())} for name, c in counts.items()}
    total = {o: sum(t[o] for t in table.values()) for o in (*OUTCOMES, "inputs")}
    record = {"classes": table, "total": total, "seeds": args.seeds, "timeout_s": args.timeout,
              "seconds": round(time.time() - started, 1)}
    runs = REPO / "runs" / "fuzz"
    runs.mkdir(parents=True, exist_ok=True)
    atomic.write_text(runs / f"{time.strftime('%Y%m%d-%H%M%S')}.json", json.dumps(record, indent=2) + "\n")
    if args.json:
        print(json.dumps(record))
    else:
        print("| class | inputs | " + " | ".join(OUTCOMES) + " |")
        print("|---|" + "---:|" * (len(OUTCOMES) + 1))
        for name, row in [*table.items(), ("**all**", total)]:
            print(f"| {name} | {row['inputs']} | " + " | ".join(str(row[o]) for o in OUTCOMES) + " |")
    return 1 if total["crash"] or total["hang"] or total["wrong"] else 0


if __name__ == "__main__":
    sys.exit(main())
