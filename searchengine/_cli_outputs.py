"""The commands that use what a search found: ``report``, ``export`` and ``predict``.

:mod:`searchengine.cli` adds them with :func:`add_parsers` and dispatches through
:data:`COMMANDS`; each returns an exit code and raises
:class:`~searchengine.errors.SearchEngineError` for bad input (exit code 2).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape

from searchengine.errors import SearchEngineError

__all__ = ["COMMANDS", "add_log_json", "add_parsers", "json_lines"]


def _study_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", nargs="?", help="the run folder (runs/NAME)")
    parser.add_argument("--storage", help="an Optuna storage URL, instead of a run folder")
    parser.add_argument("--study", help="the study name (when the storage holds several)")


def add_parsers(sub: Any) -> None:
    """Add ``report``, ``export`` and ``predict`` to the subcommands ``sub``."""
    report = sub.add_parser(
        "report",
        help="an HTML report (and PNGs) of a search",
        description="Write a self-contained HTML report of a study (finished or running) "
        "and PNGs of its main figures.",
    )
    _study_arguments(report)
    report.add_argument("--trial", type=int, help="the trial the per-trial figures show")
    report.add_argument(
        "-o", "--out", help="the HTML file (default RUN_DIR/report.html, or ./report.html)"
    )
    report.add_argument("--no-png", action="store_true", help="no PNG files")

    export = sub.add_parser(
        "export",
        help="retrain a found architecture and write a folder to ship",
        description="Retrain a trial's architecture (default: the best) and write its "
        "concrete spec, weights, encoders and a manifest to a folder.",
    )
    _study_arguments(export)
    export.add_argument("--trial", type=int, help="the trial to export (default: the best)")
    export.add_argument("-o", "--out", required=True, help="the folder to write")

    predict = sub.add_parser(
        "predict",
        help="score a CSV/TSV/Parquet file with an exported model",
        description="Score the rows of a file with a folder written by `searchengine export`.",
    )
    predict.add_argument("export_dir", help="the folder `searchengine export` wrote")
    predict.add_argument("data", help="the rows to score: .csv, .tsv or .parquet")
    predict.add_argument("-o", "--out", required=True, help="the CSV file of scores")
    predict.add_argument("--id-column", help="a column of DATA copied beside the scores")


def _source(args: argparse.Namespace) -> None:
    if args.run_dir and args.storage:
        raise SearchEngineError("give a run folder or --storage, not both")
    if not args.run_dir and not args.storage:
        raise SearchEngineError("give a run folder (runs/NAME), or --storage URL")


def cmd_report(args: argparse.Namespace, console: Console) -> int:
    from searchengine.report import build_report

    _source(args)
    report = build_report(
        args.run_dir,
        args.out,
        storage=args.storage,
        study=args.study,
        trial=args.trial,
        png=not args.no_png,
    )
    console.print(f"report: {report.html} ({len(report.figures)} figure(s))")
    if report.pngs:
        console.print(f"figures: {report.pngs[0].parent}")
    for note in report.notes:
        console.print(f"  left out: {escape(note)}", highlight=False)
    return 0


def cmd_export(args: argparse.Namespace, console: Console) -> int:
    from searchengine.exporting import export_trial

    _source(args)
    result = export_trial(
        args.run_dir, args.out, trial=args.trial, storage=args.storage, study=args.study
    )
    valid, test = result.metrics.get("auc"), result.test_metrics.get("auc")
    scores = f"valid auc {valid:.4f}, test auc {test:.4f}" if valid and test else ""
    console.print(f"exported trial {result.trial} to {result.folder} {scores}".rstrip())
    return 0


def cmd_predict(args: argparse.Namespace, console: Console) -> int:
    from searchengine.exporting import load_exported, score_file

    model = load_exported(args.export_dir)
    unseen: dict[str, int] = {}
    rows = score_file(model, args.data, args.out, id_column=args.id_column, unseen=unseen)
    console.print(f"scored {rows} row(s): {args.out}")
    if unseen:
        listing = ", ".join(f"{name} {count}" for name, count in unseen.items())
        console.print(
            f"ids unseen in training (scored with the out-of-vocabulary id), rows per field: "
            f"{listing}"
        )
    return 0


COMMANDS: dict[str, Any] = {"report": cmd_report, "export": cmd_export, "predict": cmd_predict}


def add_log_json(parser: argparse.ArgumentParser) -> None:
    """``--log-json [FILE]`` of ``run`` and ``worker``."""
    parser.add_argument(
        "--log-json",
        nargs="?",
        const="-",
        metavar="FILE",
        help="write JSON lines, one per epoch and per finished trial, to FILE "
        "(appended), or to stderr instead of the progress bar",
    )


@contextlib.contextmanager
def json_lines(target: str | None) -> Iterator[TextIO | None]:
    """The stream ``--log-json`` names: None, stderr (``-``) or a file opened to append.

    Raises:
        SearchEngineError: the file cannot be opened.
    """
    if target is None:
        yield None
    elif target == "-":
        yield sys.stderr
    else:
        try:
            stream = open(target, "a", encoding="utf-8")
        except OSError as exc:
            raise SearchEngineError(f"--log-json {target}: {exc.strerror}") from None
        with stream:
            yield stream
