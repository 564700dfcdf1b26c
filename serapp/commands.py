"""Sub-commands of `serapp` (analyze, listen, devices, bench). Each sets ``run`` on its parser.

Heavy modules (numpy, librosa, onnxruntime, sounddevice) are imported inside the commands, so `serapp --help`
stays instant and a missing PortAudio only affects the commands that capture audio.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

from serapp.engine.config import TUNABLES
from serapp.engine.retry import RetryPolicy
from serapp.output import json_text, write_stdout
from serapp.textsafe import terminal_text


def register(sub: argparse._SubParsersAction) -> None:
    """Add every sub-command parser to ``sub``."""
    p = sub.add_parser("analyze", help="analyse audio files (timeline and summary)",
                       description="Analyse audio files: a window every --hop seconds, and a summary per file. "
                                   "The JSON schema is in docs/cli.md.")
    p.add_argument("files", nargs="+", metavar="FILE", help="audio files (any format libsndfile reads)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print one JSON array, an object per file")
    fmt.add_argument("--csv", action="store_true", help="print the timelines as CSV (one row per window)")
    fmt.add_argument("--utterances-csv", action="store_true",
                     help="print the utterances as CSV (one row per utterance: start, end, emotion, confidence)")
    _common(p)
    p.set_defaults(run=run_analyze)

    p = sub.add_parser("listen", help="live emotions from the microphone in the terminal")
    p.add_argument("--device", dest="cmd_device", help="input device name or index (see `serapp devices`)")
    p.add_argument("--input", dest="cmd_input", metavar="FILE",
                   help="feed FILE at real-time pace instead of the microphone")
    p.add_argument("--seconds", type=float, help="stop after this many seconds")
    p.add_argument("--max-results", type=int, help="stop after this many results")
    _common(p)
    p.set_defaults(run=run_listen)

    p = sub.add_parser("devices", help="list audio input devices")
    p.set_defaults(run=run_devices)

    p = sub.add_parser("bench", help="measure engine speed, CPU share, latency and memory")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--json", action="store_true", help="print the figures as JSON only")
    how.add_argument("--markdown", action="store_true", help="print the figures as a Markdown table with targets")
    p.add_argument("--model", dest="cmd_model", help="ONNX model file (default: the bundled model)")
    p.add_argument("--seconds", type=float, default=10.0, help="length of the real-time run (default 10 s)")
    p.set_defaults(run=run_bench)


def _common(p: argparse.ArgumentParser) -> None:
    # Own dests: a sub-parser's default would otherwise overwrite the same option given before the command.
    p.add_argument("--model", dest="cmd_model", help="ONNX model file (default: the bundled model)")
    hop = TUNABLES["hop_s"]
    p.add_argument("--hop", type=float, default=hop.default, metavar="S",
                   help=f"seconds between updates, {hop.low:g}-{hop.high:g} (default {hop.default:g})")
    p.add_argument("--adapt", action="store_true",
                   help="adapt to the speaker (a model that can, see docs/cli.md): after its first utterances, "
                        "scores are relative to the speaker's own voice; one speaker throughout, all files included")


def _model_and_config(args: argparse.Namespace, threads: int = 1) -> tuple[Any, Any]:
    from serapp.engine.config import AnalyzerConfig
    from serapp.engine.model import load_model

    config = AnalyzerConfig(hop_s=args.hop)  # validates before the model loads
    return load_model(_opt(args, "model"), threads=threads), config


def _speaker(args: argparse.Namespace, model: Any) -> Any:
    """The running speaker mean for ``--adapt`` (None without it); a model that cannot adapt is a plain error."""
    from serapp.engine.adaptation import SpeakerMean

    return SpeakerMean.for_model(model) if args.adapt else None


def _opt(args: argparse.Namespace, name: str) -> Any:
    """An option given after the command, else the same one given before it (`serapp --model M listen`)."""
    value = getattr(args, f"cmd_{name}", None)
    return value if value is not None else getattr(args, name, None)


# ---------------------------------------------------------------------------------------------------- analyze
def run_analyze(args: argparse.Namespace) -> int:
    from serapp.engine.analysis import analyze_file, file_threads
    from serapp.engine.serialize import analysis_dict, timeline_csv, utterances_csv
    from serapp.engine.summary import FileAnalysis
    from serapp.errors import SerappError
    from serapp.progress import ProgressLine

    model, config = _model_and_config(args, threads=file_threads())  # batch work: the machine's cores
    speaker = _speaker(args, model)  # one speaker across every file given
    analyses: list[FileAnalysis] = []
    entries: list[dict[str, Any]] = []
    failed = 0
    # Share done and time left on a terminal's stderr, for work that takes a while (never into a pipe or a log).
    line = ProgressLine(sys.stderr) if sys.stderr.isatty() else None
    for i, name in enumerate(args.files):
        try:
            analyses.append(analyze_file(name, model, config,
                                         progress=line.for_file(name, i, len(args.files)) if line else None,
                                         speaker=speaker))
            entries.append(analysis_dict(analyses[-1]))
        except SerappError as exc:
            entries.append({"file": name, "error": str(exc)})
        except Exception as exc:  # one bad file must not stop the others, nor show a traceback
            entries.append({"file": name, "error": f"could not be analysed ({type(exc).__name__}: {exc})."})
        if line is not None:
            line.clear()
        if "error" in entries[-1]:
            failed += 1
            if not args.json:
                print(f"serapp: {terminal_text(entries[-1]['error'])}", file=sys.stderr)
    # The result is written whole or not at all (serapp/output.py): no half JSON on a full disk.
    if args.json:
        write_stdout(json_text(entries) + "\n")
    elif args.csv:
        write_stdout(timeline_csv(model.labels, analyses))
    elif args.utterances_csv:
        write_stdout(utterances_csv(model.labels, analyses))
    else:
        for entry in entries:
            if "error" not in entry:
                print(_describe(entry, adapting=speaker is not None))
    return 1 if failed else 0


def _describe(entry: dict[str, Any], adapting: bool = False) -> str:
    s = entry["summary"]
    top = sorted(s["probabilities"].items(), key=lambda kv: -kv[1])[:3]
    probs = ", ".join(f"{k} {v:.0%}" for k, v in top) if s["speech_ratio"] > 0 else "no speech"
    line = (f"{entry['file']}: {s['dominant']} ({probs}); {s.get('utterances', 0)} utterance"
            f"{'' if s.get('utterances', 0) == 1 else 's'}, speech {s['speech_ratio']:.0%} of {s['duration_s']:.1f} s")
    if s.get("crowd_s"):  # voices the crowd check dropped: say so, or "no speech" reads as a deaf detector
        line += f"; {s['crowd_s']:.1f} s sounded like a crowd, not one speaker (not scored)"
    if adapting and entry.get("utterances"):  # --adapt: say which answers were judged against the speaker's voice
        adapted = sum(u["adapted"] for u in entry["utterances"])
        line += f"; {adapted} of them adapted to the speaker" if adapted else "; not adapted yet (too few heard)"
    return terminal_text(line)  # file names and model labels may hold ESC, CR or bytes that are not UTF-8


# ---------------------------------------------------------------------------------------------------- listen
RETRY = RetryPolicy()  # how a failed microphone is retried (tests set a faster one)


def run_listen(args: argparse.Namespace) -> int:
    from serapp.engine.analyzer import Analyzer
    from serapp.liveline import StatusLine, stderr_through

    source = _make_source(args)  # first: a missing PortAudio or device is the news, not the model
    model, config = _model_and_config(args)
    analyzer = Analyzer(source, model, config, speaker=_speaker(args, model))
    tty = sys.stdout.isatty()
    line = StatusLine(sys.stdout, sys.stderr, tty)
    # On a terminal, PortAudio's and ALSA's own messages take lines of their own instead of gluing onto ours.
    with stderr_through(line) if tty else contextlib.nullcontext(line):
        try:
            problem = _listen_loop(args, analyzer, model.labels, line)
        finally:
            analyzer.stop()
            line.close()
    if problem is not None:
        print(f"serapp: {terminal_text(problem)}", file=sys.stderr)
        return 1
    return 0


def _listen_loop(args: argparse.Namespace, analyzer: Any, labels: tuple[str, ...], line: Any) -> str | None:
    """Show results until a stop condition; returns why the input is failing when the run ends so, else None.

    A microphone that fails mid-run (unplugged, taken by another program, delivering nothing) is said once, then
    retried by the engine's retry policy (:mod:`serapp.engine.retry`, as the window does) with one short line per
    change of reason, and "back" only once audio arrives again. The stream time goes on across reconnects (each
    run's time starts where the last result was).
    A file that fails mid-way is damaged, so that run ends.
    """
    import time

    from serapp.engine.state import RunState
    from serapp.errors import SerappError

    policy = RETRY
    retry = policy.retries(is_file=bool(_opt(args, "input")))
    analyzer.start()
    count, started = 0, time.monotonic()
    offset = last_t = 0.0  # session time of the current run's stream time 0; of the last result shown
    failing: str | None = None  # the reason last said while the input is failing
    next_retry = 0.0
    heard = False  # audio arrived since the last (re)start
    speaker = analyzer.speaker  # --adapt: its running mean (said once, when the answers start to use it)
    adapting_said = False
    while args.max_results is None or count < args.max_results:
        now = time.monotonic()
        if args.seconds is not None and now - started >= args.seconds:
            break
        result = analyzer.results.get(timeout=0.1)
        if result is None:
            if analyzer.state == RunState.ERROR and retry:
                if failing is None:
                    line.say(f"serapp: {terminal_text(analyzer.error or 'The input failed.')} "
                             f"Retrying every {policy.retry_s:g} s (Ctrl-C stops).")
                elif _short(analyzer.error) != _short(failing):
                    line.say(f"serapp: still failing: {terminal_text(_short(analyzer.error))}")
                failing = analyzer.error or failing or "The input failed."
                if now >= next_retry:
                    next_retry = policy.next_attempt(now)
                    offset, heard = last_t, False
                    with contextlib.suppress(SerappError):  # still gone: analyzer.error holds the new reason
                        analyzer.restart()
            elif analyzer.state != RunState.RUNNING and not len(analyzer.results):
                break
            continue
        heard = True
        if failing is not None:
            line.say("serapp: the input is back.")
            failing = None
        count += 1
        last_t = offset + result.t
        if speaker is not None and speaker.ready and not adapting_said:
            line.say(f"serapp: {speaker.count} utterances heard: from the next one on, emotions are judged against "
                     "this speaker's own voice.")
            adapting_said = True
        line.show(_result_line(result, labels, t=last_t, skipped=analyzer.stats().skipped_updates))
    if analyzer.state == RunState.ERROR:
        return analyzer.error or "The input failed."
    if failing is not None or (retry and not heard and not _has_audio(analyzer.source)):
        # Reopened (or opened) but no audio since: a device that opens and delivers nothing is still failing.
        return failing or f"No audio has arrived from {analyzer.source.label!r}."
    return None


def _short(message: str | None) -> str:
    """The first sentence of a failure message: what a repeated report needs."""
    text = (message or "The input failed.").strip()
    end = text.find(". ")
    return text if end < 0 else text[:end + 1]


def _has_audio(source: Any) -> bool:
    """Whether the source delivered audio since it last started (sources that cannot tell: assumed so)."""
    return bool(getattr(source, "delivered", 1))


def _make_source(args: argparse.Namespace) -> Any:
    if _opt(args, "input"):
        from serapp.engine.filesource import FileSource

        return FileSource(_opt(args, "input"), realtime=True)
    from serapp.engine.capture import MicrophoneSource

    return MicrophoneSource(_opt(args, "device"))


def _result_line(result: Any, labels: tuple[str, ...], *, t: float | None = None, skipped: int = 0) -> str:
    """One update as a line under 80 columns: session time ``t`` (default the result's own), emotion, bar,
    probability, level, the dropped / skipped counts once there are any, compute time and latency (last: what a
    narrow terminal cuts off)."""
    if result.probs is None:
        # Speech too short to judge yet, or a pause (never scored).
        what = f"{'speech…' if result.is_speech else 'silence':<9} {'':<15}"
    else:
        p = float(result.probs[result.top])  # the named emotion's probability (held against near ties)
        # An ended utterance's score, held for a moment: light shade, so a watcher sees nobody is speaking.
        bar = ("█" if result.phase == "speech" else "░") * round(p * 10)
        what = f"{terminal_text(result.emotion)[:9]:<9} {bar:<10} {p:4.0%}"
    counts = f"  dropped {result.dropped_blocks}" if result.dropped_blocks else ""
    counts += f"  skipped {skipped}" if skipped else ""
    return (f"{result.t if t is None else t:7.2f} s  {what}  {result.level_db:4.0f} dB{counts}  "
            f"compute {result.compute_ms:3.0f} ms  latency {result.latency_ms:4.0f} ms")


# ---------------------------------------------------------------------------------------------------- devices
def run_devices(args: argparse.Namespace) -> int:
    from serapp.engine.capture import NO_DEVICE, list_input_devices

    devices = list_input_devices()
    if not devices:
        print(f"serapp: {NO_DEVICE}", file=sys.stderr)
        return 1
    for d in devices:
        mark = "*" if d.is_default else " "
        print(f"{mark}{d.index:3d}  {d.name}  ({d.hostapi}, {d.channels} ch, {d.default_samplerate:.0f} Hz)")
    return 0


# ---------------------------------------------------------------------------------------------------- bench
def run_bench(args: argparse.Namespace) -> int:
    from serapp.bench import markdown, run_benchmark

    model = _opt(args, "model")
    figures = run_benchmark(Path(model) if model else None, seconds=args.seconds,
                            verbose=not (args.json or args.markdown))
    # a figure that could not be measured is null (n/a), never NaN
    write_stdout(markdown(figures) if args.markdown else json_text(figures) + "\n")
    return 0
