"""CTR models: field embeddings, interactions, backbones, and building them from a spec.

    from searchengine.models import build_model
    model = build_model(spec.model, data.schema)      # a CTRModel
    logits = model(cat, num, num_missing)             # (B,)

Backbones are looked up in :data:`BACKBONES` (plug-ins: entry point group
``searchengine.backbones``); each is a :class:`Backbone` subclass.
"""

from __future__ import annotations

from searchengine.models import backbones as _backbones  # noqa: F401  (registers them)
from searchengine.models import strong_backbones as _strong  # noqa: F401  (registers them)
from searchengine.models.base import BACKBONES, Backbone, CTRModel
from searchengine.models.blocks import backbone as _blocks  # noqa: F401  (registers `blocks`)
from searchengine.models.build import build_model, count_embedding_params, resolve
from searchengine.models.config import MLPConfig, ModelConfig
from searchengine.models.layers import ACTIVATIONS
from searchengine.models.selection import FieldSelection

__all__ = [
    "ACTIVATIONS",
    "BACKBONES",
    "Backbone",
    "CTRModel",
    "FieldSelection",
    "MLPConfig",
    "ModelConfig",
    "build_model",
    "count_embedding_params",
    "resolve",
]
