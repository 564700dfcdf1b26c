"""`serapp-train recipe RECIPE.json`: make a model the way a recipe (``configs/recipes/*.json``) says, step by
step, keeping every step already finished; the recipe format and the resuming rules are
:mod:`serapp_train.recipe`'s."""

from __future__ import annotations

import argparse
import signal
from pathlib import Path

from .configargs import add_runtime_arguments
from .recipe import Options, load, plan, run_recipe


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", type=Path, help="recipe file, e.g. configs/recipes/cnn-fast.json")
    parser.add_argument("--runs", type=Path, default=None,
                        help="folder of the steps' outputs (default: runs/<recipe name>); copy it to resume elsewhere")
    parser.add_argument("--dry-run", action="store_true", help="print the steps and which are finished; run nothing")
    parser.add_argument("--only", metavar="STEP", default=None,
                        help="run this step alone (the steps it uses must be finished)")
    add_runtime_arguments(parser)  # the same run flags as `serapp-train train`


def run(args: argparse.Namespace) -> int:
    recipe = load(args.recipe)
    runs = args.runs or Path("runs") / args.recipe.stem
    if args.dry_run:
        for item in plan(recipe, runs, args.only):
            print(f"{item.label}: {item.line} [{'done' if item.status.done else 'to run'}: {item.status.reason}]")
        return 0
    options = Options(runs, args.root, args.workers, args.extract_workers, args.quiet)
    try:
        ran = run_recipe(recipe, options, only=args.only)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C while unwinding would print a traceback
        print(f"\ninterrupted: finished steps are kept in {runs}; run the same command again to resume.")
        raise
    print(f"{recipe.path}: {len(ran)} step(s) run ({', '.join(ran) or 'none'}), the others kept; outputs in {runs}")
    return 0
