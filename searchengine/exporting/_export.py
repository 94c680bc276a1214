"""``searchengine export``: retrain a trial's architecture and write a folder to ship.

The chosen trial's Architecture is trained again by the common Evaluator with the
study's seed, so the weights are those the search measured (on the same device). The
folder holds:

* ``spec.yaml``: the concrete spec (``Architecture.to_yaml``);
* ``weights.pt``: the model's ``state_dict`` (tensors only; read with
  ``torch.load(weights_only=True)``);
* ``encoders.json``: per field its encoder (the vocabulary in id order, or the fitted
  numerical transforms) and the encoded schema (vocabulary sizes, train counts);
* ``manifest.json``: the trial, the study, validation and test metrics (retrained and as
  searched), versions, the creation time and the SHA-256 of the other files.
"""

from __future__ import annotations

import json
import logging
import math
import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import optuna
import torch
from optuna.trial import FrozenTrial, TrialState

from searchengine._optuna import METRICS_ATTR, TEST_METRICS_ATTR, reason
from searchengine.data import DataSchema, FittedEncoders, fit_encoders, write_encoders
from searchengine.engine.runs import OpenedRun, open_run
from searchengine.errors import SearchEngineError
from searchengine.exporting._bundle import (
    FILES,
    FORMAT,
    MANIFEST,
    SPEC,
    WEIGHTS,
    sha256,
)
from searchengine.searchspace import SearchSpace

__all__ = ["ExportResult", "export_trial"]

_log = logging.getLogger(__name__)


@dataclass
class ExportResult:
    """What :func:`export_trial` wrote."""

    folder: Path
    trial: int
    metrics: dict[str, float] = field(default_factory=dict)
    test_metrics: dict[str, float] = field(default_factory=dict)
    search_metrics: dict[str, float] = field(default_factory=dict)


def export_trial(
    run_dir: str | Path | None,
    out: str | Path,
    *,
    trial: int | None = None,
    storage: str | None = None,
    study: str | None = None,
) -> ExportResult:
    """Retrain a trial's architecture and write the export folder ``out``.

    Args:
        run_dir: the run folder (or None with ``storage``).
        out: the folder to write; it must be empty, new, or an earlier export.
        trial: the trial number; default the best feasible trial (the first of the
            Pareto set, by the first objective).
        storage: a storage URL instead of ``run_dir``.
        study: the study name (when the storage holds several).

    Raises:
        SearchEngineError: no such run, study or trial; a trial that did not complete; a
            generic search (no model to export); an unusable output folder.
    """
    run = open_run(run_dir, storage=storage, study=study)
    spec = _spec(run)
    chosen = _choose(run.study, trial)
    folder = _prepare(Path(out).expanduser())
    arch = SearchSpace.from_spec(spec).of_trial(chosen)
    from searchengine.evaluation import Evaluator

    evaluator = Evaluator(spec)
    _log.info("retraining trial %d of %s", chosen.number, run.study.study_name)
    result = evaluator.evaluate(arch)
    model: torch.nn.Module = evaluator.last_model
    encoders = fit_encoders(spec.data_or_default())
    _check_same_schema(encoders, evaluator.data.schema)
    searched = {str(k): float(v) for k, v in chosen.user_attrs.get(METRICS_ATTR, {}).items()}
    _warn_if_different(searched, result.metrics, chosen.number)
    (folder / SPEC).write_text(arch.to_yaml())
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, folder / WEIGHTS)
    _write_encoders(folder, encoders, evaluator.data.schema)
    manifest = _manifest(run, chosen, result, searched, encoders.names)
    manifest["files"] = {name: sha256(folder / name) for name in sorted(FILES[FORMAT])}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, default=_jsonable) + "\n")
    return ExportResult(folder, chosen.number, result.metrics, result.test_metrics, searched)


def _manifest(
    run: OpenedRun, chosen: FrozenTrial, result: Any, searched: dict[str, float], fields: list[str]
) -> dict[str, Any]:
    assert run.spec is not None
    return {
        "format": FORMAT,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "study": run.study.study_name,
        "storage": run.storage,
        "trial": chosen.number,
        "objectives": _objectives(run.study, run.spec, chosen),
        "metrics": result.metrics,
        "test_metrics": result.test_metrics,
        "search_metrics": searched,
        "search_test_metrics": chosen.user_attrs.get(TEST_METRICS_ATTR, {}),
        "fields": fields,
        "versions": _versions(),
    }


def _spec(run: OpenedRun) -> Any:
    if run.spec is None:
        raise SearchEngineError(
            f"study {run.study.study_name!r} has no searchengine spec (it was not made by "
            "`searchengine run`); there is no architecture to export"
        )
    if run.spec.is_generic:
        raise SearchEngineError(
            f"study {run.study.study_name!r} is a generic search (`evaluator: "
            f"{run.spec.evaluator}`); it has no model to export"
        )
    return run.spec


def _choose(study: optuna.Study, number: int | None) -> FrozenTrial:
    from searchengine.engine.results import best_trials

    if number is None:
        best = best_trials(study)
        if not best:
            raise SearchEngineError(
                f"study {study.study_name!r} has no feasible completed trial yet; "
                "pick one with --trial N"
            )
        return best[0]
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    if number not in trials:
        raise SearchEngineError(
            f"no trial {number} in study {study.study_name!r} "
            f"(trials: 0..{max(trials, default=-1)})"
        )
    chosen = trials[number]
    if chosen.state != TrialState.COMPLETE:
        why = reason(chosen)
        raise SearchEngineError(
            f"trial {number} is {chosen.state.name}{f' ({why})' if why else ''}; "
            "export a completed trial"
        )
    if any(v > 0 for v in chosen.constraints.values()):
        _log.warning("trial %d violates a constraint (%s)", number, chosen.constraints)
    return chosen


def _prepare(folder: Path) -> Path:
    if folder.exists() and not folder.is_dir():
        raise SearchEngineError(f"-o {folder}: a file is there; give a folder")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / MANIFEST).exists():
        raise SearchEngineError(
            f"-o {folder}: the folder is not empty and holds no export; give a new folder"
        )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST).unlink(missing_ok=True)  # a half-written export must not look whole
    return folder


def _check_same_schema(encoders: FittedEncoders, schema: DataSchema) -> None:
    for encoder, info in zip(encoders.encoders, schema.fields, strict=True):
        size = getattr(encoder, "vocab_size", 0)
        if encoder.field.name != info.name or size != info.vocab_size:
            raise RuntimeError(
                f"refitted encoder of {info.name!r} differs from the training data's "
                f"({size} vs {info.vocab_size} ids)"
            )


def _warn_if_different(searched: dict[str, float], now: dict[str, float], number: int) -> None:
    before, after = searched.get("auc"), now.get("auc")
    if before is not None and after is not None and not math.isclose(before, after, abs_tol=1e-4):
        _log.warning(
            "retrained trial %d has validation auc %.5f, the search measured %.5f "
            "(training is not bit-reproducible on this device)",
            number,
            after,
            before,
        )


def _write_encoders(folder: Path, encoders: FittedEncoders, schema: DataSchema) -> None:
    """``encoders.json`` (fields, transforms, schema) and ``vocabularies.arrow`` (the
    vocabularies and train counts, compact at millions of ids)."""
    fields = [
        {"name": f.name, "kind": f.kind, "column": f.column, "vocab_size": f.vocab_size}
        for f in schema.fields
    ]
    write_encoders(folder, encoders, schema, {"format": FORMAT, "schema": fields})


def _objectives(study: optuna.Study, spec: Any, trial: FrozenTrial) -> list[dict[str, Any]]:
    return [
        {"metric": o.metric, "direction": d.name.lower(), "value": v}
        for o, d, v in zip(spec.objectives, study.directions, trial.values, strict=True)
    ]


def _versions() -> dict[str, str]:
    import numpy
    import pandas

    from searchengine import __version__

    return {
        "searchengine": __version__,
        "torch": torch.__version__,
        "optuna": optuna.__version__,
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "python": platform.python_version(),
    }


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)
