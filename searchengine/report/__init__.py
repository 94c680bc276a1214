"""``searchengine report``: what a search found, as figures.

:func:`build_report` writes one self-contained HTML page (plotly.js inlined; it opens
offline) and PNGs of the main figures (matplotlib). Every figure is a
:class:`FigureKind` in :data:`FIGURES`, drawn only when the study holds its data, so
the report works on a study still running and on one made by any strategy, plug-ins
included. ``FigureKind.reads`` says what each figure reads; a strategy feeds the
per-trial figures by storing these trial user attributes:

* ``gate_weights``: ``{"a,b": |alpha|}``, learned interaction gate weights;
* ``groups``: ``{"2": [["a", "b"], ...], "3": [...]}``, the feature sets of each order;
* ``entity_sizes``: ``{field: {"sizes": [...], "counts": [...]}}``, per-entity sizes;
* ``dag``: ``{"nodes": [{"id": ..., "label": ...}], "edges": [[from, to], ...]}``;
* ``field_keep`` / ``field_importance``: ``{field: score}``, P(keep) of a field's
  learned gate (AutoField) or its permutation importance (``fieldperm``).
"""

from searchengine.report._build import FIGURES, FigureKind, Report, build_report, render
from searchengine.report._context import ReportContext

__all__ = ["FIGURES", "FigureKind", "Report", "ReportContext", "build_report", "render"]
