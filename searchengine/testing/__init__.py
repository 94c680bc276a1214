"""Test helpers shipped with the package: conformance suites for plug-ins."""

from __future__ import annotations

from searchengine.testing.backbones import (
    check_backbone,
    check_backward,
    check_batch_independence,
    check_class_attributes,
    check_determinism,
    check_device_agnostic,
    check_embedding_params,
    check_forward,
    check_sparse,
    mixed_dims,
    random_batch,
    tiny_schema,
    with_dynamic,
    with_multisize,
    with_numerical,
)

__all__ = [
    "check_backbone",
    "check_backward",
    "check_batch_independence",
    "check_class_attributes",
    "check_determinism",
    "check_device_agnostic",
    "check_embedding_params",
    "check_forward",
    "check_sparse",
    "mixed_dims",
    "random_batch",
    "tiny_schema",
    "with_dynamic",
    "with_multisize",
    "with_numerical",
]
