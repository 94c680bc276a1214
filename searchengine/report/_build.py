"""``searchengine report``: the figures of a study, as one HTML page and PNG files."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from searchengine.engine.runs import open_run
from searchengine.errors import SearchEngineError
from searchengine.report import _arch, _fields, _search
from searchengine.report._context import ReportContext

__all__ = ["FIGURES", "FigureKind", "Report", "build_report", "render"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FigureKind:
    """One figure of the report.

    Attributes:
        key: its id in the page and the PNG's file name.
        title: its heading.
        reads: what it reads from the study (documentation for strategies that feed it).
        data: ``data(ctx)`` returns what to draw, or None to leave the figure out.
        figure: ``figure(data)`` returns the plotly figure.
    """

    key: str
    title: str
    reads: str
    data: Callable[[ReportContext], Any]
    figure: Callable[[Any], Any]


#: The figures, in page order. Each is drawn when its data is in the study.
FIGURES: list[FigureKind] = [
    FigureKind("history", "Optimization history", "values of completed trials; constraints",
               _search.history_data, _search.history_figure),
    FigureKind("pareto", "Pareto front", "values of feasible trials (2 or 3 objectives)",
               _search.pareto_data, _search.pareto_figure),
    FigureKind("hypervolume", "Hypervolume", "values of feasible trials; study user attr "
               "`searchengine:hypervolume_ref` (optional reference point)",
               _search.hypervolume_data, _search.hypervolume_figure),
    FigureKind("importances", "Parameter importances", "params and values (optuna.importance)",
               _search.importance_data, _search.importance_figure),
    FigureKind("dims", "Embedding dimensions", "params `model.embedding.dim[FIELD]`; the "
               "data schema", _arch.dims_data, _arch.dims_figure),
    FigureKind("entity_sizes", "Embedding size per entity", "trial user attr `entity_sizes`",
               _arch.entity_data, _arch.entity_figure),
    FigureKind("gates", "Interaction gates", "trial user attr `gate_weights`, else params "
               "`model.interactions.gate[a,b]`", _arch.gate_data, _arch.gate_figure),
    FigureKind("multisize", "Multi-size embeddings", "the trial's `model.embedding.multisize`"
               " sizes; the data schema", _arch.multisize_data, _arch.multisize_figure),
    FigureKind("groups", "Feature sets per order", "trial user attr `groups`, else the "
               "trial's `model.interactions.groups`", _arch.groups_data, _arch.groups_figure),
    FigureKind("dag", "Architecture DAG", "trial user attr `dag`",
               _arch.dag_data, _arch.dag_figure),
    FigureKind("fields", "Field selection", "params `model.fields.keep[FIELD]`; trial user "
               "attr `field_keep` or `field_importance`", _fields.fields_data,
               _fields.fields_figure),
]  # fmt: skip


@dataclass
class Report:
    """What :func:`build_report` wrote."""

    html: Path
    pngs: list[Path] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def build_report(
    run_dir: str | Path | None = None,
    out: str | Path | None = None,
    *,
    storage: str | None = None,
    study: str | None = None,
    trial: int | None = None,
    png: bool = True,
) -> Report:
    """Write the report of a study (finished or still running, of any strategy).

    Args:
        run_dir: the run folder (or None with ``storage``).
        out: the HTML file; default ``RUN_DIR/report.html`` (``report.html`` with
            ``storage``). PNGs go to ``<out stem>_figures/`` beside it.
        storage: a storage URL instead of ``run_dir``.
        study: the study name (when the storage holds several).
        trial: the trial the per-trial figures show; default the best feasible one.
        png: also write PNGs of the main figures.

    Raises:
        SearchEngineError: no such run, storage, study or trial.
    """
    run = open_run(run_dir, storage=storage, study=study)
    ctx = ReportContext(
        run.study, run.spec, run.storage, run.study.get_trials(deepcopy=False), trial
    )
    _ = ctx.chosen  # an unknown --trial is an error before anything is drawn
    default = (run.run_dir or Path(".")) / "report.html"
    return render(ctx, Path(out).expanduser() if out else default, png=png)


def render(ctx: ReportContext, out: Path, *, png: bool = True) -> Report:
    """Draw every figure whose data is present and write the page (and the PNGs)."""
    import plotly.offline

    from searchengine.report._html import page
    from searchengine.report._png import PNG_RENDERERS

    if out.is_dir():
        raise SearchEngineError(f"-o {out}: a folder is there; give an .html file")
    out.parent.mkdir(parents=True, exist_ok=True)
    report = Report(out)
    sections: list[tuple[str, str, str]] = []
    png_dir = out.with_name(f"{out.stem}_figures")
    for kind in FIGURES:
        data = _guarded(ctx, kind.key, lambda kind=kind: kind.data(ctx))
        if data is None:
            continue
        fig = _guarded(ctx, kind.key, lambda kind=kind, data=data: kind.figure(data))
        if fig is None:
            continue
        body = fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=f"figure-{kind.key}",
            config={"displaylogo": False, "responsive": True},
        )
        sections.append((kind.key, kind.title, body))
        report.figures.append(kind.key)
        if png and kind.key in PNG_RENDERERS:
            png_dir.mkdir(exist_ok=True)
            path = png_dir / f"{kind.key}.png"
            draw = PNG_RENDERERS[kind.key]
            if _guarded(
                ctx, kind.key, lambda draw=draw, data=data, path=path: draw(data, path) or path
            ):
                report.pngs.append(path)
    out.write_text(page(ctx, sections, plotly.offline.get_plotlyjs()), encoding="utf-8")
    report.notes = list(ctx.notes)
    return report


def _guarded(ctx: ReportContext, key: str, make: Callable[[], Any]) -> Any:
    """``make()``; a figure that fails is left out with a note, never failing the report."""
    try:
        result = make()
    except SearchEngineError:
        raise
    except Exception as exc:  # one unexpected attribute must not cost the whole report
        _log.warning("report figure %s failed: %s", key, exc, exc_info=True)
        ctx.notes.append(f"{key}: could not be drawn ({type(exc).__name__}: {exc})")
        return None
    return result
