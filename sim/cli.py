"""The ``flywheel`` command: run | validate | charts | bench.

Each sub-command parses its options here and hands over to the module that does the job.
A user's mistake (``UserInputError``) is printed as one line and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys

from sim import __version__
from sim.errors import UserInputError


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flywheel",
        description="Simulate tokenized stocks as margin for coin-margined perpetual options.",
    )
    parser.add_argument("--version", action="version", version=f"flywheel-sim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run one scenario and write results and charts")
    run.add_argument("scenario", help="scenario YAML file")
    run.add_argument("--seed", type=int, default=None, help="root seed (default: the scenario's)")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                     help="override a scenario field, e.g. --set insurance.initial=0.05")
    run.add_argument("--out", default="results", help="results folder (default: results)")
    run.add_argument("--no-charts", action="store_true", help="skip drawing the charts")
    run.add_argument("--quiet", action="store_true", help="no progress bar")

    val = sub.add_parser("validate", help="check a scenario file and print OK or the errors")
    val.add_argument("scenario", nargs="+", help="scenario YAML file(s)")
    val.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE")

    charts = sub.add_parser("charts", help="redraw the charts of a finished run")
    charts.add_argument("run_dir", help="a run's results folder (holds timeseries.parquet)")

    bench = sub.add_parser("bench", help="benchmark the kernels (and with --model, a whole run)")
    bench.add_argument("--quick", action="store_true", help="10^5 items instead of 10^6 (< 1 min)")
    bench.add_argument("--model", action="store_true", help="also time a whole model run (a year, ~1 min)")
    bench.add_argument("--only", default=None, help="comma list: pricing,amm,pool,liquidation,book,model")
    bench.add_argument("--model-days", type=float, default=None, metavar="DAYS",
                       help="simulated days of the model run (default 365; 2 with --quick, projected to a year)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if args.command == "run":
            from sim.run import cli_run

            return cli_run(args)
        if args.command == "validate":
            from sim.scenario import cli_validate

            return cli_validate(args)
        if args.command == "charts":
            from sim.charts import cli_charts

            return cli_charts(args)
        if args.command == "bench":
            from benchmarks.main import cli_bench

            return cli_bench(args)
    except UserInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
