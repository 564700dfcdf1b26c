"""`serapp-train table`: `evaluate` records side by side as one Markdown table (stdout or --out).

Each record is given as ``NAME=PATH/metrics.json``; the records must score the same clips (same split, part and
speakers), or the table would compare different people, and are refused otherwise. `evaluate --product` records
give the product path's columns; when none of them is one, plain `evaluate` records give fixed-crop figures under
their condition (clean, a device chain, noise...).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from serapp.atomic import write_text
from serapp.errors import SerappError

from .jsonfile import read_json
from .tables import PRODUCT_HEADER, records_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("records", nargs="+", metavar="NAME=METRICS.json",
                        help="evaluate --product records, or plain evaluate records (fixed crops under a condition)")
    parser.add_argument("--out", type=Path, default=None, help="write the table here (default: print it)")
    parser.add_argument("--rows", default=PRODUCT_HEADER[0],
                        help="what the rows are: the first column's header (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    records, scored = [], set()
    for item in args.records:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise SerappError(f"Give each record as NAME=PATH, got {item!r}.")
        record = read_json(Path(path), "record")
        records.append((name, record))
        scored.add((record.get("part"), json.dumps(sorted(record.get("speakers") or []))))
    if len(scored) > 1:
        raise SerappError("These records score different speakers; a table of them would compare different people.")
    table = records_table(records, args.rows)
    if args.out is None:
        print(table, end="")
    else:
        write_text(args.out, table)
        print(f"wrote {args.out}")
    return 0
