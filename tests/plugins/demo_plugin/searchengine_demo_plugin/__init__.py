"""A strategy plug-in: quasi-random Halton sampling through Optuna's QMCSampler."""

from __future__ import annotations

import optuna

from searchengine.strategies import SamplerStrategy


class HaltonStrategy(SamplerStrategy):
    """Scrambled Halton sequence (Optuna QMCSampler)."""

    name = "halton"
    description = "quasi-random Halton sequence (plug-in)"

    def sampler(self, space, directions):
        return optuna.samplers.QMCSampler(qmc_type="halton", scramble=True, seed=self.seed)
