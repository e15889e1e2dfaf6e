"""Command line: `python -m resnet_any.bench SUITE [options] [--json PATH]` prints the table, optionally writes JSON."""
from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

from resnet_any.errors import cli_environment

if __name__ == "__main__":
    cli_environment()  # before torch loads (the suites import it)

from resnet_any.bench import SUITES, format_table, load_suite  # noqa: E402
from resnet_any.bench.table import check_writable, write_json  # noqa: E402
from resnet_any.errors import Parser, command  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    """One sub-command per suite, each with its own options plus --json."""
    parser = Parser(prog="python -m resnet_any.bench",
                     description="Benchmarks printed beside published results.")
    sub = parser.add_subparsers(dest="suite", metavar="SUITE", parser_class=Parser)
    sub.required = True
    for name in SUITES:
        module = load_suite(name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.add_argument("--json", metavar="PATH", help="also write the rows as a JSON list to PATH")
    return parser


def _log(message: str) -> None:
    """Progress goes to stderr so stdout holds only the table."""
    print(message, file=sys.stderr, flush=True)


@command
def main(argv: Sequence[str] | None = None) -> int:
    """Run one suite; 0 on success, 2 with one stderr line on a user error."""
    args = build_parser().parse_args(argv)
    if args.json:
        check_writable(args.json)  # fail now, not after an hour of benchmarking
    start = time.perf_counter()
    rows = load_suite(args.suite).run(args, _log)
    print(format_table(rows), flush=True)
    if args.json:
        write_json(rows, args.json)
    _log(f"{args.suite}: {len(rows)} rows in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
