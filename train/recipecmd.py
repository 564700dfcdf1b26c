"""`serapp-train recipe RECIPE.json`: make a model the way a recipe (``configs/recipes/*.json``) says, step by
step, keeping every step already finished; the recipe format and the resuming rules are
:mod:`serapp_train.recipe`'s."""

from __future__ import annotations

import argparse
from pathlib import Path

from .recipe import Options, load, plan, run_recipe


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", type=Path, help="recipe file, e.g. configs/recipes/cnn-fast.json")
    parser.add_argument("--runs", type=Path, default=None,
                        help="folder of the steps' outputs (default: runs/<recipe name>); copy it to resume elsewhere")
    parser.add_argument("--dry-run", action="store_true", help="print the steps and which are finished; run nothing")
    parser.add_argument("--only", metavar="STEP", default=None,
                        help="run this step alone (the steps it uses must be finished)")
    g = parser.add_argument_group("run")
    g.add_argument("--root", type=Path, default=None, help="corpora folder (default: $SERAPP_CORPORA or "
                   "../shared/corpora)")
    g.add_argument("--workers", type=int, default=1, help="threads preparing training batches (1)")
    g.add_argument("--extract-workers", type=int, default=None, help="processes filling the feature cache "
                   "(default: all cores)")
    g.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")


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
        print(f"\ninterrupted: finished steps are kept in {runs}; run the same command again to resume.")
        raise
    print(f"{recipe.path}: {len(ran)} step(s) run ({', '.join(ran) or 'none'}), the others kept; outputs in {runs}")
    return 0
