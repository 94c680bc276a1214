"""The ``searchengine`` command: run | worker | validate | schema | strategies | report |
export | predict.

Exit codes: 0 ok, 1 internal error (a bug: the traceback is printed), 2 bad input (the
message says where and what), 130 interrupted (the study is consistent; rerun to resume).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.table import Table

from searchengine import _cli_outputs
from searchengine.errors import SearchEngineError

__all__ = ["main"]

EXIT_OK, EXIT_INTERNAL, EXIT_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


def _spec_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="the spec YAML file")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a spec value, e.g. --set search.trials=5 "
        "--set 'model.embedding.dim={choice: [4, 8], per: field}'",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="searchengine",
        description="AutoML search for deep CTR models: one YAML spec, any strategy, "
        "every candidate an Optuna trial.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run or resume a search",
        description="Run a search; rerunning it on the same storage resumes.",
    )
    _spec_arguments(run)
    run.add_argument("--strategy", help="registered name or package.module:Class")
    run.add_argument(
        "--continue-with",
        metavar="STRATEGY",
        help="continue a study that another strategy searched with this one",
    )
    run.add_argument("--trials", type=int, help="trial budget (the whole study counts)")
    run.add_argument("--timeout", type=float, help="stop after this many seconds")
    run.add_argument(
        "--storage",
        help="Optuna storage URL or journal file (default sqlite:///runs/<name>/study.db)",
    )
    run.add_argument("--study", help="study name (default: the spec's name)")
    run.add_argument("--seed", type=int, help="seed of the strategy and of training")
    run.add_argument("--out", help="output folder (default runs/<name>)")
    run.add_argument(
        "--workers",
        type=int,
        help="local worker processes sharing the study (default storage: a journal file)",
    )
    run.add_argument(
        "--stale-after",
        type=float,
        metavar="SECONDS",
        help="fail and retry a RUNNING trial that has run this long and that nothing else "
        "can tell stale (another host's, on a journal file)",
    )
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _cli_outputs.add_log_json(run)

    worker = sub.add_parser(
        "worker",
        help="join a running search from any machine",
        description="Join the search on a shared storage: ask the study's strategy for the "
        "next trial, evaluate it, tell it, until the shared budget is spent.",
    )
    _spec_arguments(worker)
    worker.add_argument("--storage", help="the shared storage URL (default: search.storage)")
    worker.add_argument("--study", help="study name (default: the spec's name)")
    worker.add_argument("--trials", type=int, help="the shared trial budget")
    worker.add_argument("--timeout", type=float, help="stop this worker after this many seconds")
    worker.add_argument(
        "--worker-index",
        type=int,
        help="offsets the strategy's seed (default: from the process id)",
    )
    worker.add_argument("--out", help="output folder (default runs/<name>)")
    worker.add_argument(
        "--no-results",
        action="store_true",
        help="do not write result.json (the coordinating run does)",
    )
    worker.add_argument(
        "--stale-after",
        type=float,
        metavar="SECONDS",
        help="fail and retry a RUNNING trial that has run this long and that nothing else "
        "can tell stale (another host's, on a journal file)",
    )
    worker.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _cli_outputs.add_log_json(worker)

    compare = sub.add_parser(
        "compare",
        help="compare strategies on one space with equal budgets",
        description="Run each strategy on each seed with the same space, data split and "
        "budget; print and write compare.md / compare.json.",
    )
    _spec_arguments(compare)
    compare.add_argument(
        "--strategies", required=True, help="comma-separated, e.g. fde,mde,random,tpe,evolution"
    )
    compare.add_argument("--seeds", type=int, default=3, help="repeats per strategy (default 3)")
    compare.add_argument(
        "--budget", help="per run: TRIALS, SECONDSs or both, e.g. 30,600s (default: search.trials)"
    )
    compare.add_argument(
        "--storage", help="one storage for all runs (default runs/<name>/compare/compare.db)"
    )
    compare.add_argument("--out", help="output folder (default runs/<name>/compare)")
    compare.add_argument("-q", "--quiet", action="store_true", help="no progress bars")

    validate = sub.add_parser(
        "validate",
        help="check a spec and list its decisions",
        description="Check a spec; print its decisions.",
    )
    _spec_arguments(validate)
    sub.add_parser(
        "schema",
        help="print the JSON Schema of specs",
        description="Print the JSON Schema of the spec format.",
    )
    sub.add_parser(
        "strategies", help="list the strategies", description="List strategies, plug-ins included."
    )
    _cli_outputs.add_parsers(sub)
    return parser


def _positive(name: str, value: float | None) -> None:
    if value is not None and value <= 0:
        raise SearchEngineError(f"--{name}: expected a positive number, got {value:g}")


def _cmd_run(args: argparse.Namespace, console: Console) -> int:
    from searchengine.engine import results as _results
    from searchengine.engine import run
    from searchengine.searchspace import load_spec

    _positive("trials", args.trials)
    _positive("timeout", args.timeout)
    _positive("workers", args.workers)
    _positive("stale-after", args.stale_after)
    if args.continue_with and args.strategy and args.continue_with != args.strategy:
        raise SearchEngineError(
            f"--strategy {args.strategy} and --continue-with {args.continue_with}: give one"
        )
    spec = load_spec(args.spec, args.overrides)
    with _cli_outputs.json_lines(args.log_json) as log_json:
        result = run(
            spec,
            workers=args.workers,
            strategy=args.continue_with or args.strategy,
            continue_with=bool(args.continue_with),
            trials=args.trials,
            timeout=args.timeout,
            storage=args.storage,
            study_name=args.study,
            seed=args.seed,
            out=args.out,
            progress=not args.quiet and args.log_json != "-",
            log_json=log_json,
            stale_after=args.stale_after,
        )
    _results.print_summary(result.summary, result.out_dir, console)
    if result.interrupted:
        console.print("[yellow]interrupted[/yellow]: rerun the same command to continue")
        return EXIT_INTERRUPTED
    return EXIT_OK


def _cmd_worker(args: argparse.Namespace, console: Console) -> int:
    import os

    from searchengine.engine import results as _results
    from searchengine.engine import run
    from searchengine.searchspace import load_spec

    _positive("trials", args.trials)
    _positive("timeout", args.timeout)
    _positive("stale-after", args.stale_after)
    spec = load_spec(args.spec, args.overrides)
    if not (args.storage or spec.search.storage):
        raise SearchEngineError(
            "worker: give --storage (the storage of the shared study), "
            "e.g. postgresql://user@host/db"
        )
    signal.signal(signal.SIGINT, _interrupt_once)
    index = args.worker_index if args.worker_index is not None else os.getpid()
    with _cli_outputs.json_lines(args.log_json) as log_json:
        result = run(
            spec,
            trials=args.trials,
            timeout=args.timeout,
            storage=args.storage,
            study_name=args.study,
            out=args.out,
            workers=1,
            worker_index=index,
            progress=not args.quiet and args.log_json != "-",
            write_results=not args.no_results,
            log_json=log_json,
            stale_after=args.stale_after,
        )
    if result.summary:
        _results.print_summary(result.summary, result.out_dir, console)
    return EXIT_INTERRUPTED if result.interrupted else EXIT_OK


def _interrupt_once(signum: int, frame: Any) -> None:
    """First SIGINT: stop (the running trial is closed as interrupted); then ignore."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def _cmd_compare(args: argparse.Namespace, console: Console) -> int:
    from rich.markdown import Markdown

    from searchengine.compare import compare, parse_budget
    from searchengine.searchspace import load_spec

    trials, seconds = parse_budget(args.budget) if args.budget else (None, None)
    spec = load_spec(args.spec, args.overrides)
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    result = compare(
        spec,
        strategies,
        seeds=args.seeds,
        trials=trials,
        seconds=seconds,
        storage=args.storage,
        out=args.out,
        progress=not args.quiet,
    )
    console.print(Markdown(result.to_markdown()))
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace, console: Console) -> int:
    from searchengine.engine.preflight import check_data
    from searchengine.searchspace import SearchSpace, load_spec
    from searchengine.searchspace.loader import spec_source
    from searchengine.strategies import create_strategy, strategy_name_issues

    spec = load_spec(args.spec, args.overrides, checks=[strategy_name_issues])
    space = SearchSpace.from_spec(spec)
    check_data(spec)
    strategy = create_strategy(
        spec.search.strategy, spec.search.options, seed=spec.search.seed, source=spec_source(spec)
    )
    strategy.check(space)
    table = Table(title=f"{len(space)} decision(s) of {spec.name}")
    for column in ("decision", "kind", "values", "when"):
        table.add_column(column)
    for row in space.describe():
        when = ", ".join(f"{k} in {v}" for k, v in (row["when"] or {}).items())
        # escape: rich would read the field in `dim[age]` as a style tag and drop it
        table.add_row(escape(row["name"]), row["kind"], escape(row["distribution"]), escape(when))
    if len(space):
        console.print(table)
    console.print(f"[green]ok[/green]: {args.spec} is valid")
    return EXIT_OK


def _cmd_schema(args: argparse.Namespace, console: Console) -> int:
    from searchengine.spec.schema import spec_json_schema_text

    sys.stdout.write(spec_json_schema_text())
    return EXIT_OK


def _cmd_strategies(args: argparse.Namespace, console: Console) -> int:
    from searchengine.strategies import STRATEGIES, OneShotStrategy

    table = Table(title="strategies")
    for column in ("name", "family", "searches", "description"):
        table.add_column(column)
    for name, cls in STRATEGIES.items():
        family = "one-shot" if issubclass(cls, OneShotStrategy) else "black-box"
        decides = cls.decides or "every decision (" + ", ".join(sorted(cls.kinds)) + ")"
        table.add_row(name, family, decides, cls.description)
    console.print(table)
    return EXIT_OK


_COMMANDS: dict[str, Any] = {
    "run": _cmd_run,
    "worker": _cmd_worker,
    "compare": _cmd_compare,
    "validate": _cmd_validate,
    "schema": _cmd_schema,
    "strategies": _cmd_strategies,
    **_cli_outputs.COMMANDS,
}


#: Commands that never import optuna (its import alone takes most of a second).
_WITHOUT_OPTUNA = frozenset({"schema", "strategies"})


def _configure_logging(verbose: int, command: str) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = RichHandler(console=Console(stderr=True), show_path=False, show_time=False)
    logging.basicConfig(level=level, handlers=[handler], format="%(message)s", force=True)
    if command in _WITHOUT_OPTUNA:
        return
    import optuna

    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()
    optuna.logging.set_verbosity(logging.WARNING if verbose < 2 else logging.INFO)
    if verbose == 0:
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def _console(*, stderr: bool) -> Console:
    console = Console(stderr=stderr)
    if not console.is_terminal:  # piped or captured: do not wrap at 80 columns
        console = Console(stderr=stderr, width=160, soft_wrap=True)
    return console


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``searchengine`` command; returns the exit code."""
    args = _parser().parse_args(argv)
    console, err = _console(stderr=False), _console(stderr=True)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        _configure_logging(args.verbose, args.command)
        return int(_COMMANDS[args.command](args, console))
    except SearchEngineError as exc:
        err.print(
            f"[red]error:[/red] {escape(str(exc))}", markup=True, highlight=False, soft_wrap=True
        )
        return EXIT_INPUT
    except KeyboardInterrupt:
        err.print("interrupted")
        return EXIT_INTERRUPTED
    except Exception:
        err.print("[red]internal error[/red] (please report it):")
        err.print_exception()
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
