"""The model card's Markdown, rendered from :class:`serapp_train.cardata.CardData` through one template.

The wording lives in ``templates/model-card.md`` (package data): sections marked ``<!-- section: NAME -->``, each
filled with :class:`string.Template` from values formatted here; an optional section left out is empty. Tables go
through :func:`serapp_train.tables.markdown`. Nothing here measures or reads a record.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from importlib import resources
from string import Template

from .cardata import (
    Adaptation,
    Candidate,
    CardData,
    ConditionScore,
    CorpusFacts,
    Crossval,
    ProductPath,
    Selection,
    Teachers,
)
from .provenance import ABSENT, FAILED, UNRECORDED, VERIFIED
from .tables import TRUTH_RULES, corpus_table, markdown, pct, target_table

TEMPLATE = "model-card.md"
_MARKER = re.compile(r"^<!-- section: (\w+) -->\n", re.MULTILINE)
# Teacher check statuses in the order the card sums them up, with their sections.
_STATUS_SECTIONS = ((VERIFIED, "teachers_verified"), (FAILED, "teachers_failed"), (ABSENT, "teachers_absent"),
                    (UNRECORDED, "teachers_unrecorded"))
_NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


@cache
def sections(name: str = TEMPLATE) -> dict[str, str]:
    """The template's sections by name; a section's text runs from its marker line to the next, its last
    newline dropped."""
    text = resources.files(__package__).joinpath("templates", name).read_text(encoding="utf-8")
    parts = _MARKER.split(text)
    return {parts[i]: parts[i + 1].removesuffix("\n") for i in range(1, len(parts) - 1, 2)}


def fill(section: str, **values: object) -> str:
    """One section of the template with ``values`` substituted (every placeholder must have one)."""
    return Template(sections()[section]).substitute({k: str(v) for k, v in values.items()})


def joined(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else ""


def number(n: int) -> str:
    """A small count in words (``4`` -> ``four``), a larger one in figures."""
    return _NUMBERS[n] if 0 <= n < len(_NUMBERS) else str(n)


# ---------------------------------------------------------------------------------------------- tables
def calibration_table(card: CardData) -> str:
    """Expected calibration error before and after the temperature, validation (as recorded) and test."""
    c = card.calibration
    rows = [] if c.val_before is None else [["validation speakers (T fitted here)", f"{c.val_before:.3f}",
                                             f"{c.val_after:.3f}"]]
    rows.append(["test speakers", f"{c.test_before:.3f}", f"{c.test_after:.3f}"])
    return markdown(("data", "ECE before (T = 1)", f"ECE after (T = {c.temperature:.3f})"), rows)


def robustness_table(scores: Sequence[ConditionScore]) -> str:
    """Accuracy, macro-F1 and UAR per condition; the change in accuracy against the first (clean) one; where any
    condition has it, the UA of file analysis and its target (met or how far short)."""
    base = scores[0].accuracy
    rows = [[s.condition, pct(s.accuracy), f"{s.macro_f1:.3f}", pct(s.uar),
             "—" if i == 0 else f"{100 * (s.accuracy - base):+.1f} points"] for i, s in enumerate(scores)]
    header: tuple[str, ...] = ("condition", "accuracy", "macro-F1", "UAR", "accuracy change")
    if any(s.file_ua is not None for s in scores):
        for row, s in zip(rows, scores, strict=True):
            row += ["—" if s.file_ua is None else pct(s.file_ua), _against(s.file_ua, s.file_target)]
        header += ("UA, file analysis", "target")
    return markdown(header, rows)


def _against(value: float | None, target: float | None) -> str:
    """A target cell: ``≥ 62 %: met`` or ``≥ 62 %: 3.1 points short``; a dash without a target or a value."""
    if value is None or target is None:
        return "—"
    verdict = "met" if value >= target else f"{100 * (target - value):.1f} points short"
    return f"≥ {100 * target:g} %: {verdict}"


def product_table(pp: ProductPath) -> str:
    """The product path's measures, their targets and whether each is met."""
    settings = pp.record["replay_settings"]
    checks = {c.measure: c for c in pp.checks}
    gap = pp.record["file_analysis_ua"] - pp.record["fixed_crop_ua"]
    ci = pp.record["replay"].get("speech_right_ci")  # records since the interval was measured
    interval = "" if ci is None else f" (95 % interval over utterances {100 * ci[0]:.1f}–{100 * ci[1]:.1f} %)"
    shown = {
        "fixed_crop_ua": ("UA, fixed crops (as in training)", pct, ""),
        "file_analysis_ua": ("UA, file analysis (`serapp analyze`)", lambda v: f"{pct(v)} ({gap * 100:+.1f} points)",
                             lambda t: f"within {t * 100:g} point of fixed crops"),
        "speech_right": ("live: speech updates right", lambda v: pct(v) + interval, lambda t: f"≥ {pct(t)}"),
        "shown": ("live: speech updates showing an emotion", pct, ""),
        "final_right": ("live ceiling: speech updates the utterance's final answer gets right", pct, ""),
        "switches_per_utterance": ("live: top-emotion switches per utterance", lambda v: f"{v:.2f}",
                                   lambda t: f"≤ {t:g}"),
        "late_pause_speech": (f"live: updates ≥ {settings['late_pause_s']:g} s into a pause called speech", pct,
                              lambda t: f"≤ {pct(t)}"),
        "updates_per_s": ("live: updates per second", lambda v: f"{v:.2f}", lambda t: f"≥ {t:g}"),
    }
    rows = []
    for measure, (name, value, target) in shown.items():
        if measure not in checks:  # a record from before the measure existed
            continue
        c = checks[measure]
        rows.append([name, value(c.value), target(c.target) if c.target is not None and target else "",
                     "" if c.met is None else "met" if c.met else "**missed**"])
    return markdown(("measure", "value", "target", ""), rows, align="lrrl")


# ---------------------------------------------------------------------------------------------- sections
def _single_speaker(corpora: Sequence[CorpusFacts], parenthesis: bool) -> str:
    """The corpora tested on one speaker, said in a sentence (or a parenthesis); empty when none is."""
    single = [c.display for c in corpora if c.test_speakers == 1]
    if not single:
        return ""
    kind = "single_one" if len(single) == 1 else "single_many"
    return fill(kind + ("_parenthesis" if parenthesis else ""), corpora=joined(single))


def crossval_section(cv: Crossval) -> str:
    """The pooled per-corpus figures of a cross-validation of the recipe (or a related one)."""
    return fill(
        "crossval", k=cv.k, recipe=f"a related recipe ({cv.differs})" if cv.differs else "this recipe",
        protocol=cv.protocol, speakers=cv.speakers, link=cv.link,
        per_fold=", ".join(f"{c} " + "/".join(map(str, n)) for c, n in cv.per_fold.items()),
        fold_teachers=fill("fold_teachers", n_teachers=cv.teachers) if cv.teachers else "",
        fold_differs=fill("fold_differs", differs=cv.differs) if cv.differs else "",
        corpus_table="\n".join(corpus_table(cv.pooled)) + "\n", target_table="\n".join(target_table(cv.pooled)) + "\n")


def product_path_section(pp: ProductPath) -> str:
    """The figures through what users run: file analysis and live replay, against their targets."""
    record, replay, settings = pp.record, pp.record["replay"], pp.record["replay_settings"]
    return fill(
        "product_path", clips=record["clips"], utterances=replay["utterances"], conversations=replay["conversations"],
        pause_min=f"{settings['pause_s'][0]:g}", pause_max=f"{settings['pause_s'][1]:g}",
        minutes=f"{replay['seconds'] / 60:.0f}", block_ms=f"{settings['block_s'] * 1000:g}", table=product_table(pp),
        trained_on=("also trained on utterance beginnings (`p_partial` in its augmentation), yet early in an "
                    "utterance it is still often wrong" if pp.partial_training else
                    "trained on whole clips: early in an utterance it is often wrong"),
        no_speech=record["file_analysis_no_speech"], command=pp.command,
        truth=TRUTH_RULES[settings.get("truth", "trim")][1],
        figure="" if pp.figure_link is None else "\n\n" + fill("live_figure", link=pp.figure_link).strip())


def adaptation_section(a: Adaptation) -> str:
    """Adapting to the speaker: the test speakers' sessions without and with adapting (the full table is linked)."""
    r = a.record
    after = [r[name]["file_analysis_ua_after_warm_up"] for name in ("plain", "adapted")]
    return fill("adaptation", warm_up=r["warm_up"], speakers=r["speakers"], session_clips=r["session_clips"],
                clips=r["clips"], plain_file=pct(r["plain"]["file_analysis_ua"]),
                adapted_file=pct(r["adapted"]["file_analysis_ua"]),
                plain_after="—" if after[0] is None else pct(after[0]),
                adapted_after="—" if after[1] is None else pct(after[1]),
                plain_live=pct(r["plain"]["replay"]["speech_right"]),
                adapted_live=pct(r["adapted"]["replay"]["speech_right"]), link=a.table_link, command=a.command)


def teachers_section(t: Teachers) -> str:
    """Each claim about the teachers and whether it was checked when the card was written."""
    if t.found_in is None:
        return fill("teachers_none")
    rows = [[f"`{c.subject}`", c.claim, f"**{c.status}**", "see below" if c.status == UNRECORDED else c.how]
            for c in t.checks]

    def claims(status: str) -> str:
        return "; ".join(dict.fromkeys(c.claim for c in t.checks if c.status == status))

    summary = ""
    for status, section in _STATUS_SECTIONS:
        if any(c.status == status for c in t.checks):
            reasons = "; ".join(dict.fromkeys(c.how for c in t.checks if c.status == status))
            summary += fill(section, claims=claims(status), reasons=reasons)
    return fill("teachers", where=t.found_in if t.found_in.startswith("the ") else f"`{t.found_in}`",
                table=markdown(("run", "claim", "checked here", "how"), rows, align="llll"),
                verified=sum(c.status == VERIFIED for c in t.checks), checks=len(t.checks),
                failed=sum(c.status == FAILED for c in t.checks), summary=summary,
                note=fill("teachers_note", note=t.note) if t.note else "")


def selection_section(s: Selection) -> str:
    """On what the family was chosen, and how many candidates' test figures were seen."""
    family = ""
    if s.family:
        f = s.family
        family = fill(
            "selection_family", chosen=f.chosen, over=f.over, compare=f.compare, link=f.link, protocol=f.protocol,
            judged="test speakers" if f.judged_on == "test" else "validation speakers",
            folds=f"fold{'s' if len(f.folds) > 1 else ''} {', '.join(map(str, f.folds))}",
            chosen_uar=f"{f.chosen_uar:.3f}", over_uar=f"{f.over_uar:.3f}", why=f.why, n_shared=len(f.shared_speakers),
            n_test=f.test_speakers, shared_clips=f.shared_clips, shared=", ".join(f.shared_speakers) or "none")
    seen = ""
    if s.seen:
        def names(items: Sequence[Candidate]) -> str:
            return ", ".join(f"[{c.name}]({c.link})" if c.link else c.name for c in items)

        n_candidates = len(s.until_shipped) + len(s.since_kept)
        seen = fill(
            "selection_seen", n_candidates=n_candidates, scope=s.scope,
            n_before=len(s.until_shipped), before=names(s.until_shipped),
            since=fill("selection_since", n=len(s.since_kept), names=names(s.since_kept)) if s.since_kept
            else fill("selection_none_since"),
            ensembles=fill("selection_ensembles", n=len(s.ensembles), names=names(s.ensembles)) if s.ensembles
            else "",
            verdict=fill("selection_own_seen" if s.own_seen else "selection_own_unseen",
                         n_candidates=n_candidates).strip())
    return fill("selection", family=family, seen=seen)


def render(card: CardData) -> str:
    """The card's Markdown text."""
    m, p, lat = card.model, card.protocol, card.latency
    parameters = f"{m.parameters:,} parameters" if m.file_weights is None else \
        f"{m.parameters:,} trained parameters on a frozen pretrained encoder; {m.file_weights:,} weights in the file"
    epochs = f"{p.epochs} epochs (best validation loss at epoch {p.best_epoch}, whose weights were kept)" \
        if p.epochs else "as each member's recipe says (see *What was tried*)" if p.members else "? epochs"
    pairs = [fill("relabel", corpus=c.display, raw=raw, label=label)
             for c in card.corpora for raw, label in c.relabelled]
    missing = [fill("missing", corpus=c.display, labels=", ".join(f"*{x}*" for x in c.missing))
               for c in card.corpora if c.missing]
    cv = card.crossval
    measured = f"a related recipe ({cv.differs})" if cv and cv.differs else "the recipe"
    parenthesis = _single_speaker(card.corpora, parenthesis=True)
    optional = "".join([
        crossval_section(cv) if cv else "",
        product_path_section(card.product_path) if card.product_path else "",
        adaptation_section(card.adaptation) if card.adaptation else "",
        teachers_section(card.teachers) if card.teachers else "",
        selection_section(card.selection) if card.selection else "",
    ])
    text = fill(
        "card", file_name=m.file_name, family=m.family, parameters=parameters, size_mb=f"{m.size_mb:.2f}",
        spec_kind=m.spec_kind, n_mels=m.n_mels, hop_ms=f"{m.hop_ms:g}", duration_s=f"{m.duration_s:g}",
        sample_rate=m.sample_rate, shape=m.shape, labels=", ".join(m.labels), temperature=f"{m.temperature:.3f}",
        latency_median=f"{lat.median_ms:.2f}", latency_p95=f"{lat.p95_ms:.2f}",
        latency_where=fill("latency_machine", cores=lat.cores, machine=lat.machine) if lat.cores and lat.machine
        else fill("latency_unknown"), created=m.created, version=m.version,
        corpora=", ".join(c.name for c in card.corpora) or "?",
        relabelled=fill("relabelled", pairs=", ".join(pairs)) if pairs else "",
        protocol=p.protocol, speaker_seed=p.speaker_seed, n_test_speakers=len(p.test_speakers),
        test_clips="?" if p.test_clips is None else p.test_clips, val_speakers=p.val_speakers,
        val_clips="?" if p.val_clips is None else p.val_clips,
        train_clips="?" if p.train_clips is None else p.train_clips, epochs=epochs,
        ensemble=fill("ensemble", n_members=len(p.members), members=", ".join(p.members)) if p.members else "",
        distilled=fill("distilled", label_weight=f"{1 - p.distill_weight:g}", distill_weight=f"{p.distill_weight:g}",
                       n_teachers=p.teachers, models="models" if p.teachers > 1 else "model")
        if p.teachers and not p.members else "",
        curves=fill("curves", curves_link=card.curves_link) if card.curves_link else "",
        test_speakers=", ".join(p.test_speakers),
        corpus_table="\n".join(corpus_table(card.results)) + "\n", confusion_link=card.confusion_link,
        missing_classes=f" ({'; '.join(missing)})" if missing else "",
        single_speaker=_single_speaker(card.corpora, parenthesis=False),
        target_table="\n".join(target_table(card.results)) + "\n",
        crossval=optional, product_path="", teachers="", selection="",
        calibration_table=calibration_table(card), robustness_table=robustness_table(card.robustness),
        notes=fill("notes", notes=card.notes.strip()) if card.notes else "",
        n_corpora=number(len(card.corpora)),
        holdout_limitation=fill("holdout_crossval", single_parenthesis=parenthesis, measured=measured) if cv
        else fill("holdout_only", single_parenthesis=parenthesis),
        licences=joined([fill("licence", corpus=c.display, licence=c.licence) if c.licence else c.display
                         for c in card.corpora]),
        command=card.command or f"serapp-train train --config configs/default-model.json --export  "
                                f"# run {card.run_name}",
        written_by=card.written_by)
    return text + "\n"
