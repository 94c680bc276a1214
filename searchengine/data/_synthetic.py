"""``synthetic``: Criteo-shaped click data generated with numpy, with a planted truth.

The label's logit is a sum of planted effects, and :meth:`Synthetic.metadata` says which:

- ``informative``: categorical fields with a first-order effect (a weight per id), and
  one numerical field with a linear effect on ``log1p(x)``;
- ``interactions``: pairs of categorical fields whose effect is the product of a latent
  factor of each id, centred so that neither field alone carries it;
- ``nonlinear``: one numerical field with a bump-shaped (non-monotonic) effect;
- ``noise``: every other field.

Categorical ids follow a Zipf law over vocabularies log-spaced from ``min_vocab`` to
``max_vocab`` (C1 smallest); numerical fields are heavy-tailed non-negative counts,
some missing. The bias is set so that about ``positive_rate`` of the labels are 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from searchengine.data._dataset import DATASETS, BuiltinDataset, FieldSpec
from searchengine.errors import DataError
from searchengine.spec.format import CategoricalField, DataSpec, NumericalField

# Truth fields are drawn among categorical fields of at most this many ids, so that a
# model can learn their ids from tens of thousands of rows.
_LEARNABLE_VOCAB = 1_000
# Effect sizes (logit units) before the `signal` option scales them.
_FIRST_ORDER, _PAIR, _BUMP, _LINEAR = 0.7, 1.0, 1.0, 0.5


@dataclass(frozen=True)
class _Plan:
    """What is generated; drawn from the seed alone, so it is cheap."""

    vocab: dict[str, int]
    informative: list[str]
    interactions: list[tuple[str, str]]
    linear: str | None
    nonlinear: str | None
    numeric_params: dict[str, tuple[float, float, float]]  # name -> (mu, sigma, missing)
    noise: list[str]


@DATASETS.register("synthetic")
class Synthetic(BuiltinDataset):
    """Generated Criteo-like data with planted informative fields and interactions.

    Options: ``categorical`` (26), ``numerical`` (13), ``seed`` (0), ``min_vocab`` (4),
    ``max_vocab`` (300,000), ``zipf`` (exponent, 1.1), ``informative`` (categorical
    fields with a first-order effect, 3), ``interactions`` (planted pairs, 3),
    ``positive_rate`` (0.25), ``signal`` (a factor on every effect, 1.0). ``rows``
    (default 100,000) is the number of rows generated.
    """

    description = "Criteo-shaped generated data with a planted ground truth (no files)."
    option_defaults = {
        "categorical": 26,
        "numerical": 13,
        "seed": 0,
        "min_vocab": 4,
        "max_vocab": 300_000,
        "zipf": 1.1,
        "informative": 3,
        "interactions": 3,
        "positive_rate": 0.25,
        "signal": 1.0,
    }
    default_rows = 100_000

    def __init__(self, spec: DataSpec) -> None:
        super().__init__(spec)
        o = self.options
        for name in ("categorical", "numerical", "informative", "interactions"):
            if o[name] < 0:
                raise DataError(f"synthetic: option {name!r} must be >= 0, got {o[name]}")
        if not 1 <= o["min_vocab"] <= o["max_vocab"]:
            raise DataError(
                "synthetic: options must satisfy 1 <= min_vocab <= max_vocab, got "
                f"min_vocab={o['min_vocab']}, max_vocab={o['max_vocab']}"
            )
        if not 0.0 < o["positive_rate"] < 1.0:
            raise DataError(
                f"synthetic: option 'positive_rate' must be in (0, 1), got {o['positive_rate']}"
            )
        if o["zipf"] <= 0:
            raise DataError(f"synthetic: option 'zipf' must be > 0, got {o['zipf']}")

    def default_fields(self) -> list[FieldSpec]:
        numerical: list[FieldSpec] = [
            NumericalField(name=f"I{i + 1}", type="numerical", transform=["log1p", "standardize"])
            for i in range(self.options["numerical"])
        ]
        categorical = [
            CategoricalField(name=f"C{i + 1}") for i in range(self.options["categorical"])
        ]
        return numerical + categorical

    def metadata(self) -> dict[str, Any]:
        plan = self._plan
        informative = plan.informative + ([plan.linear] if plan.linear else [])
        truth = {
            "informative": informative,
            "interactions": [list(pair) for pair in plan.interactions],
            "nonlinear": plan.nonlinear,
            "noise": plan.noise,
            "vocab": plan.vocab,
            "seed": self.options["seed"],
        }
        return {"truth": truth}

    @cached_property
    def _plan(self) -> _Plan:
        o = self.options
        rng = np.random.default_rng([o["seed"], 0])
        n_cat, n_num = o["categorical"], o["numerical"]
        sizes = np.geomspace(o["min_vocab"], o["max_vocab"], num=n_cat) if n_cat else []
        vocab = {f"C{i + 1}": int(round(v)) for i, v in enumerate(sizes)}
        pool = [str(name) for name in rng.permutation(_truth_pool(vocab, o))]
        n_pairs = min(o["interactions"], len(pool) // 2)
        order = {name: i for i, name in enumerate(vocab)}
        pairs: list[tuple[str, str]] = []
        for i in range(n_pairs):
            first, second = sorted(pool[2 * i : 2 * i + 2], key=order.__getitem__)
            pairs.append((first, second))
        informative = pool[2 * n_pairs : 2 * n_pairs + o["informative"]]
        numeric = [str(name) for name in rng.permutation([f"I{i + 1}" for i in range(n_num)])]
        nonlinear = numeric[0] if numeric else None
        linear = numeric[1] if len(numeric) > 1 else None
        params = {}
        for i in range(n_num):
            name = f"I{i + 1}"
            rate = float(rng.choice([0.0, 0.05, 0.2, 0.4]))
            rate = 0.02 if name in (nonlinear, linear) else rate
            params[name] = (float(rng.uniform(0.5, 4.0)), float(rng.uniform(0.8, 2.0)), rate)
        used = {*informative, *(f for pair in pairs for f in pair), nonlinear, linear}
        noise = [f.name for f in self.default_fields() if f.name not in used]
        return _Plan(vocab, informative, pairs, linear, nonlinear, params, noise)

    def read(self) -> pd.DataFrame:
        plan, o = self._plan, self.options
        n = self.spec.rows or self.default_rows
        rng = np.random.default_rng([o["seed"], 1])
        columns: dict[str, Any] = {}
        logit = np.zeros(n)
        signal = float(o["signal"])
        for name, (mu, sigma, rate) in plan.numeric_params.items():
            values = np.floor(np.expm1(np.maximum(rng.normal(mu, sigma, size=n), 0.0)))
            absent = rng.random(n) < rate
            if name in (plan.nonlinear, plan.linear):
                effect = _bump(values) if name == plan.nonlinear else _standard(np.log1p(values))
                scale = _BUMP if name == plan.nonlinear else _LINEAR
                logit += np.where(absent, 0.0, signal * scale * effect)
            columns[name] = np.where(absent, np.nan, values)
        probs = {name: _zipf(size, o["zipf"]) for name, size in plan.vocab.items()}
        for name, size in plan.vocab.items():
            columns[name] = _sample(rng, size, o["zipf"], n)
        for name in plan.informative:
            weights = _centred(rng.normal(size=plan.vocab[name]), probs[name])
            logit += signal * _FIRST_ORDER * weights[columns[name]]
        for a, b in plan.interactions:
            u = _centred(rng.normal(size=plan.vocab[a]), probs[a])
            v = _centred(rng.normal(size=plan.vocab[b]), probs[b])
            logit += signal * _PAIR * u[columns[a]] * v[columns[b]]
        for name in plan.noise:
            if name in plan.vocab:
                rate = float(rng.choice([0.0, 0.0, 0.05, 0.3]))
                columns[name] = _with_missing(rng, columns[name], rate)
        bias = _bias_for_rate(logit, o["positive_rate"])
        label = rng.random(n) < 1.0 / (1.0 + np.exp(-(logit + bias)))
        frame = pd.DataFrame({f.name: columns[f.name] for f in self.default_fields()})
        frame["label"] = label.astype(np.int8)
        return frame


def _truth_pool(vocab: dict[str, int], options: dict[str, Any]) -> list[str]:
    """The fields to plant effects in: learnable ones, or else the smallest that suffice."""
    wanted = 2 * options["interactions"] + options["informative"]
    usable = sorted((v, i, name) for i, (name, v) in enumerate(vocab.items()) if v >= 2)
    small = [entry for entry in usable if entry[0] <= _LEARNABLE_VOCAB]
    chosen = small if len(small) >= wanted else usable[:wanted]
    return [name for _, _, name in sorted(chosen, key=lambda entry: entry[1])]


def _zipf(size: int, exponent: float) -> np.ndarray:
    """P(id = k), k = 0..size-1: a power law, ``x ** -exponent`` on [1, size + 1) floored."""
    return np.diff(_zipf_cdf(np.arange(1, size + 2, dtype=np.float64), size, exponent))


def _zipf_cdf(x: np.ndarray, size: int, exponent: float) -> np.ndarray:
    if exponent == 1.0:
        return np.log(x) / np.log(size + 1.0)
    return (x ** (1.0 - exponent) - 1.0) / ((size + 1.0) ** (1.0 - exponent) - 1.0)


def _sample(rng: np.random.Generator, size: int, exponent: float, n: int) -> np.ndarray:
    """``n`` ids drawn by inverting :func:`_zipf_cdf`: O(n), whatever the vocabulary."""
    u = rng.random(n)
    if exponent == 1.0:
        x = (size + 1.0) ** u
    else:
        top = (size + 1.0) ** (1.0 - exponent)
        x = (1.0 + u * (top - 1.0)) ** (1.0 / (1.0 - exponent))
    return np.clip(np.floor(x).astype(np.int64) - 1, 0, size - 1)


def _centred(values: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Zero mean and unit variance under the ids' frequencies: no marginal leakage."""
    values = values - probs @ values
    std = np.sqrt(probs @ values**2)
    return values / std if std > 0 else values


def _standard(x: np.ndarray) -> np.ndarray:
    std = x.std()
    return (x - x.mean()) / (std if std > 0 else 1.0)


def _bump(values: np.ndarray) -> np.ndarray:
    """High around the typical value, low at both ends: no monotone transform fits it."""
    return _standard(np.exp(-(_standard(np.log1p(values)) ** 2)))


def _with_missing(rng: np.random.Generator, ids: np.ndarray, rate: float) -> Any:
    if rate == 0:
        return ids
    return pd.arrays.IntegerArray(ids, rng.random(len(ids)) < rate)


def _bias_for_rate(logit: np.ndarray, rate: float) -> float:
    sample = logit[:: max(1, len(logit) // 200_000)]
    low, high = -30.0, 30.0
    for _ in range(50):
        mid = (low + high) / 2
        if np.mean(1.0 / (1.0 + np.exp(-(sample + mid)))) > rate:
            high = mid
        else:
            low = mid
    return (low + high) / 2
