from __future__ import annotations

import pytest

from searchengine.models import BACKBONES
from searchengine.testing import check_backbone, tiny_schema


@pytest.mark.parametrize("name", BACKBONES.names())
def test_backbone_conformance(name: str) -> None:
    check_backbone(name)


@pytest.mark.parametrize("name", BACKBONES.names())
@pytest.mark.parametrize("shape", [(4, 0), (0, 3), (1, 1)])
def test_backbone_conformance_odd_schemas(name: str, shape: tuple[int, int]) -> None:
    check_backbone(name, tiny_schema(*shape))


def test_builtin_backbones_are_registered() -> None:
    assert {"fm", "fwfm", "wide_deep", "deepfm", "dcn", "dcnv2", "autoint", "finalmlp"} <= set(
        BACKBONES.names()
    )
    assert [
        n for n in ("fm", "fwfm", "deepfm", "wide_deep", "dcn") if BACKBONES.get(n).uses_pairs
    ] == [
        "fm",
        "fwfm",
        "deepfm",
    ]
