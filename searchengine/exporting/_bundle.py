"""An exported model folder: its files, their checksums, and loading it back to score rows.

Loading never unpickles: the weights are read with ``torch.load(weights_only=True)``
(tensors only), everything else is JSON or YAML (``yaml.safe_load``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import torch

from searchengine.data import DataSchema, FieldInfo, FittedEncoders, read_encoders
from searchengine.errors import DataError, SearchEngineError, did_you_mean
from searchengine.spec.architecture import Architecture

__all__ = [
    "ENCODERS",
    "FILES",
    "FORMAT",
    "MANIFEST",
    "SPEC",
    "VOCABULARIES",
    "WEIGHTS",
    "CorruptExportError",
    "ExportedModel",
    "load_exported",
    "sha256",
]

#: 2: the categorical vocabularies and counts in ``vocabularies.arrow`` (1: all in JSON).
FORMAT = 2
SPEC, WEIGHTS, ENCODERS, MANIFEST = "spec.yaml", "weights.pt", "encoders.json", "manifest.json"
VOCABULARIES = "vocabularies.arrow"
#: The files each readable format lists in its manifest.
FILES = {1: {SPEC, WEIGHTS, ENCODERS}, 2: {SPEC, WEIGHTS, ENCODERS, VOCABULARIES}}


class CorruptExportError(SearchEngineError):
    """An export folder that is incomplete, altered, or does not fit together."""


def sha256(path: Path) -> str:
    """The SHA-256 of a file, in hex."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class ExportedModel:
    """A trained architecture with its encoders: scores raw rows.

    Attributes:
        architecture: the concrete spec (``spec.yaml``).
        encoders: the fitted encoders of every field (``encoders.json``, with the
            categorical vocabularies in ``vocabularies.arrow``).
        schema: the encoded fields the model was built for.
        model: the torch module, in eval mode on the CPU.
        manifest: ``manifest.json``: metrics, trial, study, versions, checksums.
    """

    architecture: Architecture
    encoders: FittedEncoders
    schema: DataSchema
    model: torch.nn.Module
    manifest: dict[str, Any]

    @property
    def fields(self) -> list[str]:
        """The columns a frame needs (the model's fields, in order): the kept ones where
        the model drops fields (``model.fields.keep``)."""
        keep = self.architecture.model.fields.keep
        names = self.encoders.names
        return [n for n in names if n in keep] if isinstance(keep, list) else names

    def predict(self, frame: pd.DataFrame, *, source: str = "the data") -> np.ndarray:
        """Click probabilities of the rows of ``frame``, one float32 per row.

        Categorical values never seen in training (or rare, or missing) take the
        out-of-vocabulary id, as they did in training; other columns (dropped fields
        among them) are ignored.

        Args:
            frame: a column per field (see :attr:`fields`).
            source: what the rows are, for error messages.

        Raises:
            DataError: a missing field, or a numerical field with values that are not numbers.
        """
        require_columns(list(frame.columns), self.fields, source)
        absent = [n for n in self.encoders.names if n not in frame.columns]
        if absent:  # dropped fields: encoded as missing, which the model never reads
            frame = frame.assign(**dict.fromkeys(absent, None))
        cat, num, missing = self.encoders.encode(frame, source, align=True)
        from searchengine.evaluation.trainer import Tensors, predict

        tensors = Tensors(
            cat=torch.from_numpy(cat),
            num=torch.from_numpy(num),
            num_missing=torch.from_numpy(missing),
            label=torch.zeros(len(frame)),
            splits={},
        )
        return predict(self.model, tensors, torch.arange(len(frame)))

    def unseen_ids(self, frame: pd.DataFrame) -> dict[str, int]:
        """For each categorical field, the rows whose value is present but has no id of
        its own in training (unseen or rare there): they are scored with the
        out-of-vocabulary id. Fields without such rows are left out."""
        from searchengine.data._encoders import CategoricalEncoder

        out: dict[str, int] = {}
        read = set(self.fields)  # a dropped field's values are never read
        for encoder in self.encoders.encoders:
            if not isinstance(encoder, CategoricalEncoder) or encoder.field.name not in read:
                continue
            values = frame[encoder.field.name]
            ids = encoder.transform(encoder.align(values))
            count = int(((ids == 0) & values.notna().to_numpy()).sum())
            if count:
                out[encoder.field.name] = count
        return out


def require_columns(columns: list[str], fields: list[str], source: str) -> None:
    """Raise for the first field that ``columns`` lacks.

    Raises:
        DataError: naming the missing field, the closest column and the fields needed.
    """
    have = [str(c) for c in columns]
    for name in fields:
        if name not in have:
            raise DataError(
                f"{source}: no column {name!r}{did_you_mean(name, have)}; the model needs "
                f"the fields {', '.join(fields)}"
            )


def load_exported(folder: str | Path) -> ExportedModel:
    """Load a folder written by ``searchengine export``.

    Every file's checksum is checked against the manifest, then the spec, the encoders
    and the weights are read and the model is rebuilt.

    Raises:
        CorruptExportError: a missing or altered file, unreadable JSON or weights, or
            weights that do not fit the spec.
        SearchEngineError: the folder does not exist.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise SearchEngineError(f"export folder not found: {root}")
    manifest = _read_manifest(root)
    architecture = _read_architecture(root / SPEC)
    encoders, schema = _read_encoders(root, manifest["format"])
    model = _read_model(root / WEIGHTS, architecture, schema)
    return ExportedModel(architecture, encoders, schema, model, manifest)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CorruptExportError(f"{path}: not readable JSON ({exc})") from None


def _read_manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST
    if not path.is_file():
        raise CorruptExportError(
            f"{root}: no {MANIFEST}; is it a folder that `searchengine export` wrote?"
        )
    manifest = _read_json(path)
    if not isinstance(manifest, dict) or manifest.get("format") not in FILES:
        raise CorruptExportError(f"{path}: not an export manifest of format {FORMAT}")
    files, needed = manifest.get("files"), FILES[manifest["format"]]
    if not isinstance(files, dict) or set(files) != needed:
        raise CorruptExportError(f"{path}: `files` must list {', '.join(sorted(needed))}")
    for name, digest in files.items():
        file = root / name
        if not file.is_file():
            raise CorruptExportError(f"{root}: {name} is missing")
        if sha256(file) != digest:
            raise CorruptExportError(
                f"{file}: checksum mismatch: the file changed after export; export again"
            )
    return manifest


def _read_architecture(path: Path) -> Architecture:
    from searchengine.searchspace import parse_spec

    try:
        spec = parse_spec(path.read_text(), file=str(path))
    except SearchEngineError as exc:
        raise CorruptExportError(f"not a concrete spec: {exc}") from None
    if spec.is_generic:
        raise CorruptExportError(f"{path}: not the spec of a CTR model")
    return Architecture(spec=spec)


def _read_encoders(root: Path, format_: int) -> tuple[FittedEncoders, DataSchema]:
    path = root / ENCODERS
    data = _read_json(path)
    try:
        if format_ == 1:
            encoders, counts = FittedEncoders.from_json(data["encoders"]), {}
        else:
            encoders, counts = read_encoders(root)
        schema = DataSchema(
            tuple(
                FieldInfo(
                    name=str(f["name"]),
                    kind=f["kind"],
                    column=int(f["column"]),
                    vocab_size=int(f["vocab_size"]),
                    counts=(
                        counts.get(str(f["name"]))
                        if f.get("counts") is None
                        else np.asarray(f["counts"], np.int64)
                    ),
                )
                for f in data["schema"]
            )
        )
    except (KeyError, TypeError, ValueError, OSError, pa.ArrowException) as exc:
        raise CorruptExportError(f"{path}: not the encoders of an export ({exc!r})") from None
    if schema.names != encoders.names:
        raise CorruptExportError(f"{path}: the schema's fields differ from the encoders'")
    return encoders, schema


def _read_model(path: Path, architecture: Architecture, schema: DataSchema) -> torch.nn.Module:
    from searchengine.models import build_model

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a damaged file
        raise CorruptExportError(f"{path}: unreadable weights ({type(exc).__name__})") from None
    if not isinstance(state, dict):
        raise CorruptExportError(f"{path}: expected a state dict of tensors")
    try:
        model = build_model(architecture.model, schema)
        model.load_state_dict(state)
    except (SearchEngineError, ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0][:300]
        raise CorruptExportError(
            f"{path}: the weights do not fit the spec and encoders ({first})"
        ) from None
    return model.eval()
