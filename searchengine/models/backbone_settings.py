"""The resolved settings of dcnv2, autoint and finalmlp (``model.dcnv2``,
``model.autoint``, ``model.finalmlp``), checked where they enter."""

from __future__ import annotations

from dataclasses import dataclass

from searchengine.errors import SpecIssue, did_you_mean
from searchengine.spec.backbones import DCNV2_STRUCTURES, AutoIntSpec, DCNv2Spec, FinalMLPSpec
from searchengine.spec.format import ModelSpec

__all__ = ["AutoIntConfig", "DCNv2Config", "FinalMLPConfig", "resolve_settings"]


@dataclass(frozen=True)
class DCNv2Config:
    """Cross layers, experts per layer, the experts' rank (0: full rank), structure."""

    layers: int = 3
    experts: int = 1
    rank: int = 0
    structure: str = "parallel"

    @classmethod
    def from_spec(cls, spec: DCNv2Spec, issues: list[SpecIssue]) -> DCNv2Config:
        if spec.structure not in DCNV2_STRUCTURES:
            issues.append(
                SpecIssue(
                    "model.dcnv2.structure",
                    f"unknown structure {spec.structure!r}"
                    f"{did_you_mean(spec.structure, DCNV2_STRUCTURES)}"
                    f" (choices: {', '.join(DCNV2_STRUCTURES)})",
                )
            )
        return cls(int(spec.layers), int(spec.experts), int(spec.rank), str(spec.structure))


@dataclass(frozen=True)
class AutoIntConfig:
    """Attention layers, heads, head width, residual maps, and the MLP stream (AutoInt+)."""

    layers: int = 3
    heads: int = 2
    dim: int = 16
    residual: bool = True
    deep: bool = False

    @classmethod
    def from_spec(cls, spec: AutoIntSpec) -> AutoIntConfig:
        return cls(
            int(spec.layers), int(spec.heads), int(spec.dim), bool(spec.residual), bool(spec.deep)
        )


@dataclass(frozen=True)
class FinalMLPConfig:
    """The second stream's hidden widths, feature gating, the fusion's heads."""

    layers: tuple[int, ...] = (256, 128)
    gate: bool = True
    gate_width: int = 64
    heads: int = 1

    @classmethod
    def from_spec(cls, spec: FinalMLPSpec) -> FinalMLPConfig:
        layers = tuple(int(w) for w in spec.layers)
        return cls(layers, bool(spec.gate), int(spec.gate_width), int(spec.heads))


def resolve_settings(
    spec: ModelSpec, issues: list[SpecIssue]
) -> tuple[DCNv2Config, AutoIntConfig, FinalMLPConfig]:
    """The three sections of a concrete model spec; problems go to ``issues``."""
    return (
        DCNv2Config.from_spec(spec.dcnv2, issues),
        AutoIntConfig.from_spec(spec.autoint),
        FinalMLPConfig.from_spec(spec.finalmlp),
    )
