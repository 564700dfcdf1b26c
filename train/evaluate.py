"""`serapp-train evaluate`: score an exported ONNX model (as the app serves it) on corpus clips.

The model is loaded with :func:`serapp.engine.model.load_model` and scored by :func:`serapp_train.scoring.score`
(features computed with its own spec), so the figures are those of the shipped file, calibration included. Clips
come from corpus folders (:func:`serapp_train.corpora.scan`) or a CSV manifest, optionally restricted to some
speakers (e.g. a test fold).
Robustness: ``--noise-snr`` adds white or pink (babble-like) noise at an SNR and ``--gain-db`` scales the
level, both on the prepared window the model sees (after trimming and fixing the length), with the same
functions as training augmentation. Writes ``metrics.json`` and ``confusion.png`` to ``--out`` (with ``--product``
also :data:`serapp_train.productpath.LIVE_FIGURE`). ``--product`` under a condition (a device, a room, noise, a
gain) scores file analysis of each whole clip degraded alike, beside the fixed crops (no live replay).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from serapp.engine.config import AnalyzerConfig
from serapp.errors import SerappError
from serapp.paths import corpora_root

from .augment import DEVICES
from .evaluation import evaluate_into, split_speakers

if TYPE_CHECKING:
    from serapp.engine.model import OnnxModel

    from .corpora import Clip
    from .productpath import FileAnalysisScore
    from .scoring import Condition, Scored

# The live replay's default size: 20 conversations of 12 clips, about 35 minutes of audio.
SESSION_CLIPS = 40  # per speaker with --adapt: a warm-up of 20 utterances and as many after it
REPLAY_CLIPS = 240


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, action="append", default=None,
                        help="ONNX model (default: the bundled model); repeat it to score the mean probability "
                        "of several (an ensemble)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--root", type=Path, default=None,
                        help="corpora folder (default: $SERAPP_CORPORA or ../shared/corpora)")
    source.add_argument("--manifest", type=Path, default=None,
                        help="CSV with columns path,label,speaker (optional corpus, sex) instead of corpora")
    parser.add_argument("--corpora", default=None, help="comma-separated corpus names (default: all found)")
    who = parser.add_mutually_exclusive_group()
    who.add_argument("--speakers", default=None,
                     help="comma-separated speaker ids to keep, e.g. ravdess:01,tess:OAF (default: all)")
    who.add_argument("--split", type=Path, default=None,
                     help="a run's split.json: keep the speakers of its --part (choose on val, never on test)")
    parser.add_argument("--part", choices=("val", "test"), default="test", help="which speakers of --split")
    parser.add_argument("--limit", type=int, default=None, help="at most this many clips per corpus (seeded)")
    parser.add_argument("--seed", type=int, default=0, help="seed of --limit and of the noise")
    parser.add_argument("--noise-snr", type=float, default=None, help="add noise at this SNR in dB")
    parser.add_argument("--noise", choices=("white", "pink"), default="white",
                        help="noise colour for --noise-snr (pink is closer to babble)")
    parser.add_argument("--gain-db", type=float, default=None, help="scale the level by this many dB (clipped)")
    parser.add_argument("--device", choices=DEVICES, default=None,
                        help="pass the audio through a laptop microphone's band (200 Hz-6 kHz), a telephone line "
                             "(300-3400 Hz at 8 kHz, mu-law), or MP3 or Opus at a low rate (about 20 and 11 kbit/s)")
    parser.add_argument("--rt60", type=float, default=None, help="add room reverberation of this RT60 in seconds")
    parser.add_argument("--out", type=Path, default=Path("runs/evaluate"), help="folder for metrics.json and "
                        "confusion.png")
    parser.add_argument("--product", action="store_true",
                        help="also score through the product path: each clip through file analysis (UA of "
                        "summary.probabilities) and a live replay of conversations through the real-time engine; "
                        "with --device, --rt60, --noise-snr or --gain-db, file analysis of each whole clip degraded "
                        "so (no replay)")
    parser.add_argument("--analyzer", type=Path, default=None, metavar="FILE.json",
                        help="with --product: engine settings (AnalyzerConfig fields, e.g. {\"min_speech_s\": 0.1}) "
                        "instead of the defaults, to score a settings candidate on validation speakers")
    parser.add_argument("--adapt", action="store_true",
                        help="an adaptable model: score speaker adaptation through the product path, each speaker's "
                        "session (--session-clips of their clips, a seeded random order) through file analysis and "
                        "the live replay, without and with adapting to them (beside --product's figures, or alone)")
    parser.add_argument("--session-clips", type=int, default=SESSION_CLIPS,
                        help="with --adapt: clips of each speaker's session (default %(default)s)")
    parser.add_argument("--replay-clips", type=int, default=REPLAY_CLIPS,
                        help="clips joined into the live replay's conversations (a seeded subset; default "
                        "%(default)s)")


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


def select_clips(args: argparse.Namespace) -> list[Clip]:
    """The clips to score: corpus scan or manifest, then the speaker filter, then the per-corpus limit."""
    from . import corpora
    from .data import limit_per_corpus

    if args.manifest is not None:
        clips = corpora.load_manifest(args.manifest)
        wanted_corpora = _names(args.corpora)
        if wanted_corpora is not None:
            clips = [c for c in clips if c.corpus in wanted_corpora]
    else:
        clips = corpora.scan(args.root or corpora_root(), _names(args.corpora))
    speakers = split_speakers(args.split, args.part) if args.split is not None else _names(args.speakers)
    if speakers is not None:
        unknown = sorted(set(speakers) - {c.speaker for c in clips})
        if unknown:
            raise SerappError(f"Speaker(s) {', '.join(unknown)} have no clips here; speaker ids look like "
                              "ravdess:01, crema-d:1001, tess:OAF, savee:DC.")
        clips = [c for c in clips if c.speaker in set(speakers)]
    if args.limit is not None and args.limit < 1:
        raise SerappError(f"--limit must be at least 1 clip per corpus, got {args.limit}.")
    clips = limit_per_corpus(clips, args.limit, args.seed)
    if not clips:
        raise SerappError("No clips to evaluate.")
    return clips


def run(args: argparse.Namespace) -> int:
    from serapp.engine.model import load_model

    from . import metrics
    from .jsonfile import write_json
    from .scoring import Condition

    if args.analyzer is not None and not (args.product or args.adapt):
        raise SerappError("--analyzer sets the engine of the product path: give --product or --adapt too.")
    if args.session_clips < 1:
        raise SerappError(f"--session-clips must be at least 1, got {args.session_clips}.")
    engine = analyzer_settings(args.analyzer)  # checked before anything is scored
    model, *members = [load_model(path) for path in args.model or [None]]
    condition = Condition(args.noise_snr, args.noise, args.gain_db, args.seed, args.device, args.rt60)
    scored, summary, plot = evaluate_into(args.out, model, select_clips(args), condition, members, split=args.split,
                                          part=args.part)
    together = f" and {len(members)} more (mean probability)" if members else ""
    print(f"{model.path.name} ({model.info.family or 'unknown family'}){together}, {condition.describe()}")
    print(metrics.format_report(scored.metrics))
    print(f"scored on: {summary['use']}")
    if args.product and members:
        raise SerappError("--product scores one model (no --model ensemble).")
    if args.product and not condition.clean:
        summary["file_analysis"] = degraded_file_analysis(model, scored, condition, engine)
    elif args.product:
        summary["product_path"] = product_path(model, scored, args.replay_clips, args.seed, engine)
    if args.adapt:
        if members or not condition.clean:
            raise SerappError("--adapt scores one model on clean audio (no --model ensemble, noise or gain).")
        summary["adaptation"] = adaptation(model, scored, args.session_clips, args.seed, engine)
    if args.product or args.adapt:
        write_json(args.out / "metrics.json", summary)
    if args.product and condition.clean:
        from .productpath import LIVE_FIGURE

        figure = metrics.plot_live_by_time(summary["product_path"]["replay"]["since_start"],
                                           args.out / LIVE_FIGURE, f"{model.path.name}, {args.part} speakers")
        print(f"wrote {figure}")
    if args.adapt:
        from serapp.atomic import write_text

        write_text(args.out / "adaptation.md", render_adaptation(summary["adaptation"], args.part))
    print(f"log-loss {summary['log_loss']:.3f}, ECE {summary['ece']:.3f}; wrote {args.out / 'metrics.json'} and {plot}")
    return 0


def analyzer_settings(path: Path | None) -> AnalyzerConfig:
    """The engine settings of ``--analyzer`` (a JSON object of :class:`AnalyzerConfig` fields), else the defaults."""
    from .jsonfile import read_json

    return AnalyzerConfig() if path is None else AnalyzerConfig.from_dict(read_json(path, "analyzer settings"))


def product_path(model: OnnxModel, scored: Scored, replay_clips: int, seed: int,
                 config: AnalyzerConfig | None = None) -> dict[str, Any]:
    """File analysis and live replay figures (see :mod:`serapp_train.productpath`) on the clips ``scored`` used, printed
    beside their fixed-crop UA, as a ``metrics.json`` entry; ``config``: the engine's settings (default: its
    defaults), recorded whole (defaults change; a record must say what it was measured with)."""
    from . import productpath

    config = config or AnalyzerConfig()

    clips = scored.clips
    analysed = _file_analysis(model, scored, config)
    rng = np.random.default_rng(seed)
    subset = [clips[i] for i in sorted(rng.choice(len(clips), min(replay_clips, len(clips)), replace=False))]
    replay = productpath.live_replay(model, subset, config, seed=seed, progress=_progress("live replay"))
    print(f"live replay ({replay.conversations} conversations, {replay.utterances} utterances, "
          f"{replay.seconds / 60:.0f} min): speech updates right {replay.speech_right:.1%} (95 % interval over "
          f"utterances {replay.speech_right_ci[0]:.1%}-{replay.speech_right_ci[1]:.1%}; an emotion shown on "
          f"{replay.shown:.1%}), {replay.switches_per_utterance:.2f} switches per utterance, "
          f"{replay.late_pause_speech:.1%} of updates >= {productpath.LATE_PAUSE_S:g} s into a pause called speech, "
          f"{replay.updates_per_s:.2f} updates per second")
    print(f"  the utterance's final answer, had it been shown from the start: {replay.final_right:.1%} right; by time "
          "since speech began: " + ", ".join(
              f"{lo:g}-{'' if hi == float('inf') else f'{hi:g}'} s {r:.1%} live, {f:.1%} final ({n})"
              for lo, hi, n, r, f in replay.since_start if n))
    return {"clips": analysed.clips, "fixed_crop_ua": round(scored.metrics.uar, 6),
            "file_analysis_ua": round(analysed.ua, 6),
            "file_analysis_no_speech": analysed.no_speech, "replay": replay.to_dict(),
            "replay_settings": {"pause_s": list(productpath.PAUSE_S), "clips_per_conversation":
                                productpath.CONVERSATION_CLIPS, "late_pause_s": productpath.LATE_PAUSE_S,
                                "block_s": productpath.REPLAY_BLOCK_S, "truth": productpath.TRUTH_RULE},
            "engine": config.to_dict()}


def degraded_file_analysis(model: OnnxModel, scored: Scored, condition: Condition,
                           config: AnalyzerConfig | None = None) -> dict[str, Any]:
    """File analysis of the clips ``scored`` used, each whole clip degraded by ``condition`` first (see
    :func:`serapp_train.productpath.score_file_analysis`), printed beside the fixed-crop UA under the same condition,
    as a ``metrics.json`` entry. No live replay: it is scored on clean audio only."""
    config = config or AnalyzerConfig()
    analysed = _file_analysis(model, scored, config, condition)
    return {"clips": analysed.clips, "ua": round(analysed.ua, 6), "no_speech": analysed.no_speech,
            "engine": config.to_dict()}


def _file_analysis(model: OnnxModel, scored: Scored, config: AnalyzerConfig,
                   condition: Condition | None = None) -> FileAnalysisScore:
    """Each clip ``scored`` used through file analysis (degraded by ``condition`` first, if given), printed beside
    the fixed-crop UA of the same clips under the same condition (scored already: their UAR is the UA to compare)."""
    from . import productpath

    analysed = productpath.score_file_analysis(model, scored.clips, config, progress=_progress("file analysis"),
                                               condition=condition)
    fixed_ua = scored.metrics.uar
    under = "" if condition is None else f"{condition.describe()}: "
    print(f"{under}fixed crops UA {fixed_ua:.1%}; file analysis UA {analysed.ua:.1%} ({analysed.ua - fixed_ua:+.1%}, "
          f"{analysed.no_speech} of {analysed.clips} clips without speech found)")
    return analysed


def adaptation(model: OnnxModel, scored: Scored, session_clips: int, seed: int,
               config: AnalyzerConfig | None = None) -> dict[str, Any]:
    """Speaker adaptation through the product path: each speaker's session (at most ``session_clips`` clips of
    the clips ``scored`` used, in a seeded random order) through file analysis (one speaker's recordings one
    after another) and the live replay (the speaker alone), without and with adapting to the speaker. File
    analysis UA is also given over the clips the adapted run answered adapted (after each speaker's warm-up)."""
    from . import metrics, productpath

    config = config or AnalyzerConfig()
    clips = productpath.sessions(scored.clips, seed=seed, per_speaker=session_clips)
    out: dict[str, Any] = {"session_clips": session_clips, "clips": len(clips), "warm_up": model.info.adapt_clips,
                           "speakers": len({c.speaker for c in clips})}
    files = {name: productpath.score_file_analysis(model, clips, config, progress=_progress(f"file analysis, {name}"),
                                                   adapt=name == "adapted") for name in ("plain", "adapted")}
    after = np.array(files["adapted"].adapted)
    truths, corpora = np.array(files["plain"].truths), np.array(files["plain"].corpora)

    def ua(preds: np.ndarray, rows: np.ndarray) -> float | None:
        return round(metrics.uar(truths[rows], preds[rows]), 6) if rows.any() else None

    for name, done in files.items():
        preds = np.array(done.predictions)
        out[name] = {"file_analysis_ua": round(done.ua, 6), "file_analysis_ua_after_warm_up": ua(preds, after),
                     "per_corpus_after_warm_up": {c: ua(preds, after & (corpora == c)) for c in sorted(set(corpora))},
                     "replay": productpath.live_replay(model, clips, config, seed=seed, by_speaker=True,
                                                       adapt=name == "adapted",
                                                       progress=_progress(f"live replay, {name}")).to_dict()}
        r = out[name]["replay"]
        print(f"speaker sessions, {name}: file analysis UA {done.ua:.1%} (after warm-up "
              f"{out[name]['file_analysis_ua_after_warm_up'] or float('nan'):.1%}); live speech updates right "
              f"{r['speech_right']:.1%}, {r['switches_per_utterance']:.2f} switches per utterance")
    return out


def render_adaptation(record: dict[str, Any], part: str) -> str:
    """The :func:`adaptation` record as a Markdown table: without and with adapting, the same sessions."""
    who = "validation" if part == "val" else part
    lines = [f"Speaker adaptation through the product path, {who} speakers: {record['speakers']} speakers' sessions "
             f"of up to {record['session_clips']} clips ({record['clips']} in all, a seeded random order); the "
             f"model adapts after {record['warm_up']} utterances. Written by `serapp-train evaluate --adapt`.", "",
             "| | file analysis UA | after the warm-up | live speech updates right | switches per utterance | "
             "late pause called speech |", "|---|---:|---:|---:|---:|---:|"]

    def cell(value: float | None) -> str:
        return "—" if value is None else f"{100 * value:.1f} %"

    names = {"plain": "not adapting", "adapted": "adapting"}
    for name, shown in names.items():
        r, replay = record[name], record[name]["replay"]
        lines.append(f"| {shown} | {cell(r['file_analysis_ua'])} | {cell(r['file_analysis_ua_after_warm_up'])} | "
                     f"{cell(replay['speech_right'])} | {replay['switches_per_utterance']:.2f} | "
                     f"{cell(replay['late_pause_speech'])} |")
    corpora = sorted(record["plain"].get("per_corpus_after_warm_up") or {})
    if corpora:  # records before per-corpus figures lack them
        lines += ["", "File analysis UA per corpus, over the clips after the warm-up:", "",
                  "| | " + " | ".join(corpora) + " |", "|---|" + "---:|" * len(corpora)]
        lines += [f"| {shown} | " + " | ".join(cell(record[name]["per_corpus_after_warm_up"][c]) for c in corpora)
                  + " |" for name, shown in names.items()]
    return "\n".join(lines) + "\n"


def _progress(what: str) -> Any:
    """A progress callback ``(done, total)`` drawn as a tqdm bar, like the trainer's other long loops."""
    from tqdm import tqdm

    bar: Any = None

    def show(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=what)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return show
