"""Shipping what a search found: ``searchengine export`` and ``searchengine predict``.

:func:`export_trial` retrains a trial's architecture and writes a folder (concrete spec,
weights, encoders, manifest); :func:`load_exported` reads it back, checking every file,
and :meth:`ExportedModel.predict` scores raw rows, unseen ids through the
out-of-vocabulary id. Nothing is unpickled.
"""

from searchengine.exporting._bundle import CorruptExportError, ExportedModel, load_exported
from searchengine.exporting._export import ExportResult, export_trial
from searchengine.exporting._tables import read_rows, score_file

__all__ = [
    "CorruptExportError",
    "ExportResult",
    "ExportedModel",
    "export_trial",
    "load_exported",
    "read_rows",
    "score_file",
]
