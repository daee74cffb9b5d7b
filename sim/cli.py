"""The ``flywheel`` command: run | sweep | sensitivity | validate | charts | calibrate | study |
dashboard | bench.

The parser and every sub-command's handler live here; each handler hands over to the module
that does the job.
A user's mistake (``UserInputError``) is printed as one line and exits with status 2. SIGINT
(Ctrl-C) and SIGTERM (what a cluster scheduler sends) are handled alike: the work in progress
is unwound (its temporary files removed), one line is printed and the exit status is 128 + the
signal's number (130, 143).
"""

from __future__ import annotations

import argparse
import signal
import sys
import typing
from collections.abc import Iterator
from contextlib import contextmanager

from kernels import ENGINES
from sim import __version__
from sim.errors import Interrupted, UserInputError
from sim.preflight import DEFAULT_MAX_AGENT_STEPS, DEFAULT_MAX_MEMORY_GB


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad option is one line (not the usage, then the error) and exit 2."""

    def error(self, message: str) -> typing.NoReturn:
        shown = message if len(message) <= 200 else message[:197] + "..."
        self.exit(2, f"error: {self.prog}: {shown} (see {self.prog} --help)\n")


def _build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="flywheel",
        description="Simulate tokenized stocks as margin for coin-margined perpetual options.",
    )
    parser.add_argument("--version", action="version", version=f"flywheel-sim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    limits = _OneLineParser(add_help=False)     # what a run may need (sim.preflight)
    limits.add_argument("--max-memory-gb", type=float, default=DEFAULT_MAX_MEMORY_GB,
                        metavar="GB", help="refuse a run estimated to need more memory "
                        f"(default {DEFAULT_MAX_MEMORY_GB:g})")
    limits.add_argument("--max-agent-steps", type=float, default=DEFAULT_MAX_AGENT_STEPS,
                        metavar="N", help="refuse a run of more agent-steps, live agents times "
                        f"steps (default {DEFAULT_MAX_AGENT_STEPS:.0e})")

    run = sub.add_parser("run", parents=[limits],
                         help="run one scenario and write results and charts")
    run.add_argument("scenario", help="scenario YAML file")
    run.add_argument("--seed", type=int, default=None, help="root seed (default: the scenario's)")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                     help="override a scenario field, e.g. --set insurance.initial=0.05")
    run.add_argument("--out", default="results", help="results folder (default: results)")
    run.add_argument("--no-charts", action="store_true", help="skip drawing the charts")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--kernels", choices=ENGINES, default="cython",
                     help="kernel engine: cython (default) or reference, the plain-Python twins "
                          "(the specification; far slower, results agree to ~1e-9)")
    run.add_argument("--compare", action="append", choices=("margin", "impulse"), default=[],
                     help="also run twins sharing every random number: margin (every market "
                          "margined in USDC) and/or impulse (extra traders at --at, and again "
                          "with market quality frozen); repeat for both")
    run.add_argument("--impulse", default="0.05,0.10", metavar="FRACTIONS",
                     help="impulse sizes as fractions of the active traders (default 0.05,0.10)")
    run.add_argument("--at", default="day 30", metavar="TIME",
                     help="when the impulse arrives: 'day 30', 'step 720' or an ISO time (default day 30)")
    run.add_argument("--seeds", type=int, default=1, metavar="N",
                     help="with --compare: N seeds (spawned from the seed) instead of one, both "
                          "twins, reported as a one-scenario study with 95%% intervals, the "
                          "verdict and the paired-versus-unpaired variance")

    val = sub.add_parser("validate", parents=[limits],
                         help="check a scenario file as a run would before its first step "
                              "(fields, sizes, price files) and print OK or the errors")
    val.add_argument("scenario", nargs="+", help="scenario YAML file(s)")
    val.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE")
    val.add_argument("--resolved", action="store_true",
                     help="after OK, print the resolved scenario as YAML (every value: base:, "
                          "--set and defaults applied)")

    charts = sub.add_parser("charts", help="redraw the charts of a finished run")
    charts.add_argument("run_dir", help="a run's results folder (holds timeseries.parquet)")

    bench = sub.add_parser("bench", help="benchmark the kernels (and with --model, a whole run)")
    bench.add_argument("--quick", action="store_true", help="10^5 items instead of 10^6 (< 1 min)")
    bench.add_argument("--model", action="store_true", help="also time a whole model run (a year, ~1 min)")
    bench.add_argument("--only", default=None,
                       help="comma list: pricing,amm,pool,liquidation,trade_book,preflight,model,"
                            "sweep")
    bench.add_argument("--model-days", type=float, default=None, metavar="DAYS",
                       help="simulated days of the model run (default 365; 2 with --quick, projected to a year)")
    sw = sub.add_parser("sweep", parents=[limits],
                        help="run a sweep file: scenarios x points x seeds, resumable")
    sw.add_argument("file", help="sweep YAML file (e.g. scenarios/sweeps/insurance_size.yaml)")
    sw.add_argument("--workers", type=int, default=None,
                    help="worker processes (default: the cores); with --scheduler, how many "
                         "runs are handed out at a time is four times this")
    sw.add_argument("--backend", choices=("local", "dask"), default="local",
                    help="local: a process pool (default); dask: dask.distributed (extra [cluster])")
    sw.add_argument("--scheduler", default=None, metavar="ADDRESS",
                    help="join this Dask scheduler (tcp://host:8786) instead of starting a "
                         "LocalCluster; its workers must see the results folder")
    sw.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                    help="override a field of every run (not one the sweep varies)")
    sw.add_argument("--out", default="results", help="results folder (default: results)")
    sw.add_argument("--no-charts", action="store_true", help="skip the sweep's charts")
    sw.add_argument("--quiet", action="store_true", help="no progress bar")

    sens = sub.add_parser("sensitivity", help="Sobol indices of a metric from a saltelli sweep")
    sens.add_argument("sweep_dir", help="the sweep's results folder (holds runs.parquet)")
    sens.add_argument("--metric", required=True,
                      help="a headline (p_lp_bad_debt_loss, var95_bad_debt_usd, ...) or a "
                           "runs.parquet column; averaged over the seeds of each point")
    sens.add_argument("--no-chart", action="store_true", help="print the indices only")

    cal = sub.add_parser("calibrate", help="measure the baseline against design 18's calibration table")
    cal.add_argument("scenario", nargs="?", default="scenarios/baseline.yaml",
                     help="the calm baseline (default scenarios/baseline.yaml); the shock rows run "
                          "crypto_crash, black_thursday, pin and premium from the same folder")
    cal.add_argument("--seeds", type=int, default=10, help="baseline seeds (default 10)")
    cal.add_argument("--shock-seeds", type=int, default=5, help="seeds of each shock row (default 5)")
    cal.add_argument("--days", type=float, default=None,
                     help="shorten the baseline runs to DAYS and leave out the year-long ones (a "
                          "quick look; the table states it)")
    cal.add_argument("--workers", type=int, default=None, help="processes (default: the cores)")
    cal.add_argument("--out", default="results", help="where the runs are stored (default results)")
    cal.add_argument("--doc", default="docs/calibration.md",
                     help="Markdown file the table is written to (default docs/calibration.md)")
    cal.add_argument("--no-doc", action="store_true", help="print the table only")

    study = sub.add_parser("study", parents=[limits],
                           help="scenarios x seeds with margin and impulse twins: "
                                "verdicts and results/<study>/REPORT.md")
    study.add_argument("study", help="study YAML file (scenarios, seeds, impulses, horizons)")
    study.add_argument("--workers", type=int, default=None,
                       help="processes (default: the study's workers, else the cores)")
    study.add_argument("--seeds", type=int, default=None, help="replications (default: the study's)")
    study.add_argument("--backend", choices=("local", "dask"), default="local",
                       help="local: a process pool (default); dask: dask.distributed (extra "
                            "[cluster]), as flywheel sweep")
    study.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="join this Dask scheduler instead of starting a LocalCluster")
    study.add_argument("--out", default="results", help="results folder (default: results)")
    study.add_argument("--quiet", action="store_true", help="no progress bar")
    dash = sub.add_parser("dashboard", help="watch a scenario run in the browser and browse "
                                            "finished runs and sweeps (extra [dashboard])")
    dash.add_argument("scenario", nargs="?", default="scenarios/baseline.yaml",
                      help="the scenario the page starts on (default scenarios/baseline.yaml)")
    dash.add_argument("--host", default="127.0.0.1",
                      help="address to listen on (default 127.0.0.1: this machine only)")
    dash.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    dash.add_argument("--results", default="results",
                      help="results folder the Results page browses (default: results)")
    return parser


# ---------------------------------------------------------------------- the handlers
# Each parses nothing further: it loads what the command names and hands over to the module
# that does the job (imports are lazy so that ``flywheel --help`` stays fast).


def cmd_run(args: argparse.Namespace) -> int:
    """``flywheel run SCENARIO [--seed N] [--set k=v ...] [--out DIR] [--no-charts] [--quiet]
    [--kernels {cython,reference}]``."""
    from sim.run import format_summary_table, run
    from sim.scenario import load_scenario

    scenario = load_scenario(args.scenario, args.overrides)
    if args.compare:
        return _run_compare(args, scenario)
    result = run(scenario, seed=args.seed, out=args.out, progress=not args.quiet,
                 charts=not args.no_charts, kernels=args.kernels, limits=_limits(args),
                 source=args.scenario)
    s, info = result.summary, result.info
    how = ("stored earlier, not recomputed" if result.reused
           else f"computed in {info['wall_time_s']:.1f} s")
    if args.kernels != "cython":
        how += f", {args.kernels} kernels"
    print(f"{s['scenario']}  seed {s['seed']}  run {info['run_key']}  ({how})")
    print(format_summary_table(s))
    print(f"results: {result.path}")
    return 0


def _run_compare(args: argparse.Namespace, scenario) -> int:
    """``flywheel run SCENARIO --compare margin|impulse``: the twins side by side."""
    from sim.twins import MARGIN_METRICS, compare, gain_table

    if args.kernels != "cython":
        raise UserInputError("--compare: runs with the cython kernels only")
    modes = [m for m in ("margin", "impulse") if m in args.compare]
    fractions = _fractions(args.impulse)
    at = _impulse_time(scenario, args.at) if "impulse" in modes else args.at
    if args.seeds < 1:
        raise UserInputError(f"--seeds: must be >= 1, got {args.seeds}")
    if args.seeds > 1:
        return _compare_over_seeds(args, scenario, fractions, _impulse_time(scenario, args.at))
    folder, comparison = compare(scenario, args.seed, modes, args.out, fractions, at,
                                 progress=not args.quiet, charts=not args.no_charts,
                                 limits=_limits(args), source=args.scenario)
    print(f"{scenario.name}  seed {comparison['seed']}: {' and '.join(modes)} twins")
    if "margin" in comparison:
        print("what stock-token margin changes against its USDC margin twin (one seed):")
        for key, label in MARGIN_METRICS.items():
            d = comparison["margin"]["differences"][key]
            cells = [("-" if v is None else f"{v:,.4g}") for v in d.values()]
            print(f"  {label:<36} stock {cells[0]:>12}   twin {cells[1]:>12}   stock - twin {cells[2]:>12}")
    if "impulse" in comparison:
        print(f"flywheel gain of impulses at {at} (one seed; G = extra active users per added trader):")
        print(gain_table(comparison["impulse"]["gains"]))
    print(f"results: {folder}")
    return 0


def _compare_over_seeds(args: argparse.Namespace, scenario, fractions: list[float], at: str) -> int:
    """``--compare ... --seeds N``: the scenario as a one-scenario study (``sim.study``)."""
    from sim.run import _checked_seed
    from sim.study import run_study
    from sim.study.spec import (
        Study,
        StudyScenario,
        StudySpec,
        at_day,
        check_cell_runs,
        replication_seeds,
    )

    limits = _limits(args)
    check_cell_runs(scenario, limits, source=args.scenario)
    root = _checked_seed(scenario.seed if args.seed is None else args.seed)
    if args.seeds > 10_000:
        raise UserInputError(f"--seeds: at most 10000, got {args.seeds}")
    spec = StudySpec(name=f"{scenario.name}-compare", scenarios=[args.scenario], seeds=args.seeds,
                     root_seed=root, impulses=fractions, at=at)
    study = Study(spec, args.scenario, (StudyScenario(args.scenario, scenario, at, at_day(at, scenario)),),
                  replication_seeds(root, args.seeds), limits)
    command = f"flywheel run {args.scenario} --compare ... --seeds {args.seeds}"
    outcome = run_study(study, args.out, progress=not args.quiet, charts=not args.no_charts,
                        workers=1 if args.seeds == 1 else None, command=command)
    print(outcome.verdict_table())
    print(f"report: {outcome.report}")
    return 1 if outcome.failures else 0


def _fractions(text: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserInputError(f"--impulse: {text!r} is not a comma list of fractions such as 0.05,0.10") from None
    if not values or not all(0 < v <= 1 for v in values):
        raise UserInputError(f"--impulse: each size must be in (0, 1], got {text!r}")
    return values


def _impulse_time(scenario, at: str) -> str:
    """``at`` checked against the scenario (a one-line error naming --at)."""
    from sim.twins import impulse_twin

    try:
        impulse_twin(scenario, 0.1, at)
    except UserInputError as exc:
        raise UserInputError(f"--at: {str(exc).split(': ', 1)[-1]}") from None
    return at


def _limits(args: argparse.Namespace):
    """What each run may need (``--max-memory-gb``, ``--max-agent-steps``): ``sim.preflight.Limits``."""
    from sim.preflight import Limits

    return Limits(args.max_memory_gb, args.max_agent_steps)


def cmd_validate(args: argparse.Namespace) -> int:
    """``flywheel validate FILE... [--set PATH=VALUE] [--resolved] [--max-memory-gb GB]
    [--max-agent-steps N]``: print ``OK <file>`` for each file a run would start from, with
    ``--resolved`` followed by its resolved scenario as YAML (a study file is checked as a study,
    with every scenario it names; a sweep file as a sweep, every scenario at every point).

    Everything a run checks before its first step is checked (``sim.preflight.check_before_run``):
    the fields, the sizes against the limits, and every price file read against the run's
    clock (columns, times, prices, coverage).

    Every file is checked; the problems of the bad ones are raised together as one line.
    """
    from sim.preflight import check_before_run
    from sim.scenario import dump_scenario, load_scenario
    from sim.study.spec import is_study_file, load_study
    from sim.sweep.driver import prepare
    from sim.sweep.spec import is_sweep_file, parse_set

    limits = _limits(args)
    problems = []
    for path in args.scenario:
        scenario = None
        try:
            if is_sweep_file(path):
                prepare(path, parse_set(args.overrides or ()), limits)
            elif is_study_file(path):         # a study beside its scenarios: check it as one
                load_study(path, limits=limits)
            else:
                scenario = load_scenario(path, args.overrides or ())
                check_before_run(scenario, limits, source=path)
        except UserInputError as exc:
            problems.append(str(exc))
        else:
            print(f"OK {path}")
            if args.resolved and scenario is not None:
                print(dump_scenario(scenario), end="")
    if problems:
        raise UserInputError("; ".join(problems))
    return 0


def cmd_charts(args: argparse.Namespace) -> int:
    """``flywheel charts RUN_DIR``: redraw the charts of a stored run."""
    from pathlib import Path

    from sim import results_io as rio
    from sim.charts import draw_run_charts, stored_run_title

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise UserInputError(f"{run_dir}: no such results folder")
    for name in (rio.TIMESERIES, rio.EVENTS):
        if not (run_dir / name).is_file():
            raise UserInputError(f"{run_dir}: no {name} (not a run's results folder?)")
    timeseries = rio.read_parquet(run_dir / rio.TIMESERIES)
    events = rio.read_parquet(run_dir / rio.EVENTS)
    title = run_dir.name
    if (run_dir / rio.SUMMARY).is_file():
        info = rio.read_json(run_dir / rio.RUN_INFO) if (run_dir / rio.RUN_INFO).is_file() else {}
        title = stored_run_title(run_dir, rio.read_json(run_dir / rio.SUMMARY), info)
    rio.remove_stale_temps(run_dir / rio.CHARTS_DIR)      # charts a killed process left half-drawn
    for path in draw_run_charts(timeseries, events, run_dir / rio.CHARTS_DIR, title=title):
        print(path)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """``flywheel bench [--quick] [--model] [--only LIST] [--model-days DAYS]``."""
    from sim.bench.main import ALL_MODULES, DEFAULT_MODULES, print_benchmarks

    if args.only:
        names = [s.strip() for s in args.only.split(",") if s.strip()]
        unknown = [s for s in names if s not in ALL_MODULES]
        if unknown:
            raise UserInputError(f"--only: unknown {', '.join(unknown)} (choose from {', '.join(ALL_MODULES)})")
    else:
        names = list(DEFAULT_MODULES) + (["model"] if args.model else [])
    if args.model_days is not None and not args.model_days > 0:
        raise UserInputError(f"--model-days: must be > 0, got {args.model_days}")
    return print_benchmarks(names, n=10**5 if args.quick else 10**6, model_days=args.model_days)


def cmd_sweep(args: argparse.Namespace) -> int:
    """``flywheel sweep FILE [--workers N] [--backend local|dask] [--scheduler ADDRESS]
    [--set k=v ...] [--out DIR] [--no-charts] [--quiet] [--max-memory-gb GB]
    [--max-agent-steps N]``: exit 1 when a run failed or the sweep could not finish (run it
    again: finished runs are kept)."""
    from sim.executor import default_workers, make_executor
    from sim.sweep.driver import prepare, run_sweep
    from sim.sweep.runner import IN_FLIGHT_PER_WORKER
    from sim.sweep.spec import parse_set

    if args.workers is not None and args.workers < 1:
        raise UserInputError(f"--workers: must be >= 1, got {args.workers}")
    limits = _limits(args)
    plan = prepare(args.file, parse_set(args.overrides), limits)   # every point, before a run
    workers = args.workers or default_workers()
    with make_executor(args.backend, args.workers, args.scheduler) as executor:
        result = run_sweep(args.file, executor, out=args.out, max_in_flight=IN_FLIGHT_PER_WORKER * workers,
                           progress=not args.quiet, charts=not args.no_charts,
                           backend=args.backend, plan=plan)
    c = result.execution.counts
    print(f"sweep {plan.spec.name}: {c.planned} runs: {c.computed} computed, {c.reused} reused, "
          f"{c.failed} failed in {result.execution.wall_time_s:.1f} s; results: {result.folder}")
    answer = result.report.split("## Answer", 1)
    if len(answer) == 2:
        print(answer[1].split("## ", 1)[0].strip())
    if not result.complete:
        print(f"error: the sweep stopped ({result.execution.broken}); {c.not_done} runs not done: "
              "run it again to finish them", file=sys.stderr)
        return 1
    if result.failed:
        print(f"error: {result.failed} of {len(result.runs)} runs failed (status and error in "
              f"{result.folder / 'runs.parquet'})", file=sys.stderr)
        return 1
    return 0


def cmd_sensitivity(args: argparse.Namespace) -> int:
    """``flywheel sensitivity SWEEP_DIR --metric M [--no-chart]``."""
    from pathlib import Path

    from sim.sweep.sensitivity import draw_bar_chart, format_indices, sensitivity

    folder = Path(args.sweep_dir)
    indices = sensitivity(folder, args.metric)
    print(format_indices(indices, args.metric))
    if not args.no_chart:
        safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in args.metric)
        print(draw_bar_chart(indices, args.metric, folder.name,
                             folder / "charts" / f"sensitivity_{safe}.png"))
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    """``flywheel calibrate [SCENARIO] [--seeds N] [--shock-seeds N] [--days D] [--workers N]
    [--out DIR] [--doc FILE | --no-doc]``: exit 0 when every row passes, 1 when one misses."""
    from pathlib import Path

    from sim.calibration import calibrate, write_doc
    from sim.scenario import load_scenario

    for flag, value in (("--seeds", args.seeds), ("--shock-seeds", args.shock_seeds),
                        ("--workers", args.workers)):
        if value is not None and value < 1:
            raise UserInputError(f"{flag}: must be >= 1, got {value}")
    if args.days is not None and not args.days > 0:
        raise UserInputError(f"--days: must be > 0, got {args.days}")
    base = load_scenario(args.scenario)       # a bad file fails here, in one line
    if args.days is not None and args.days * 1440 < (base.burn_in_steps + 24) * base.clock.step_minutes:
        raise UserInputError(f"--days: {args.days:g} leaves less than 24 steps after the "
                             f"{base.clock.burn_in_days:g}-day burn-in")
    table = calibrate(args.scenario, args.seeds, args.shock_seeds, out=args.out,
                      workers=args.workers, days=args.days)
    command = f"flywheel calibrate {args.scenario} --seeds {args.seeds} --shock-seeds {args.shock_seeds}"
    if args.days is not None:
        command += f" --days {args.days:g}"
    text = table.markdown(command)
    print(text, end="")
    if not args.no_doc:
        print(f"written: {write_doc(Path(args.doc), text)}")
    return 0 if table.all_pass else 1


def cmd_study(args: argparse.Namespace) -> int:
    """``flywheel study STUDY.yaml [--workers N] [--seeds N] [--backend local|dask]
    [--scheduler ADDRESS] [--out DIR] [--quiet] [--max-memory-gb GB] [--max-agent-steps N]``:
    exit 0, or 1 when a cell failed (the others are reported)."""
    from contextlib import nullcontext

    from sim.executor import make_executor
    from sim.study import load_study, run_study

    if args.workers is not None and args.workers < 1:
        raise UserInputError(f"--workers: must be >= 1, got {args.workers}")
    study = load_study(args.study, seeds=args.seeds,
                       limits=_limits(args))
    command = f"flywheel study {args.study}" + (f" --seeds {args.seeds}" if args.seeds else "")
    local = args.backend == "local" and args.scheduler is None   # run_study sizes its own pool
    with (nullcontext() if local else
          make_executor(args.backend, args.workers, args.scheduler)) as executor:
        outcome = run_study(study, args.out, executor=executor, workers=args.workers,
                            progress=not args.quiet, command=command)
    print(outcome.verdict_table())
    print(f"report: {outcome.report}")
    if outcome.failures:
        total = len(study.scenarios) * len(study.seeds)
        print(f"error: {len(outcome.failures)} of {total} cells failed "
              f"(errors in {outcome.folder / 'cells.jsonl'})", file=sys.stderr)
        return 1
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    """``flywheel dashboard [SCENARIO] [--host H] [--port P] [--results DIR]``."""
    from sim.dashboard import serve

    return serve(args.scenario, args.host, args.port, args.results)


HANDLERS = {"run": cmd_run, "sweep": cmd_sweep, "sensitivity": cmd_sensitivity,
            "calibrate": cmd_calibrate, "validate": cmd_validate, "charts": cmd_charts,
            "study": cmd_study, "dashboard": cmd_dashboard, "bench": cmd_bench}


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    """While the body runs, SIGINT and SIGTERM raise ``Interrupted`` in the main thread (so
    clean-ups run); a second signal during the clean-up is ignored. The previous handlers are
    restored after."""
    def interrupt(signum: int, frame: object) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        raise Interrupted(signum)

    try:
        previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:          # not the main thread: leave the signals to whoever owns them
        yield
        return
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        with _signals_interrupt():
            if vars(args).get("out") is not None:     # every command that writes results
                from sim.results_io import check_out_dir

                check_out_dir(args.out)
            return HANDLERS[args.command](args)
    except UserInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Interrupted as exc:
        name = signal.Signals(exc.signum).name
        print(f"interrupted ({name}); nothing half-written was left", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("interrupted (SIGINT); nothing half-written was left", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
