"""The tables ``reproduce.py`` makes: one family per seed paper, as data.

Every family lists its datasets, the training every row shares, its rows (label, model,
strategy, trial budget), its reference row for the t-tests, extra columns, and the claims
of its paper as lines computed from the measured rows.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from searchengine.compare import mean_std, welch_t_test

MOVIELENS = "../shared/datasets/movielens-100k"
Fields = Mapping[str, list[str]]


@dataclass(frozen=True)
class Row:
    """One entry of a table: the model a strategy trains or decides."""

    key: str
    label: str
    strategy: str
    model: dict[str, Any] | Callable[[Fields], dict[str, Any]]
    options: dict[str, Any] = field(default_factory=dict)
    trials: int | None = None
    train: dict[str, Any] = field(default_factory=dict)
    objectives: list[dict[str, Any]] | None = None
    #: a wall-clock budget per run instead of ``trials`` (seconds, retrains included)
    seconds: float | None = None
    #: more ``search`` settings (e.g. ``fidelity``)
    search: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Family:
    name: str
    description: str
    setup: str
    datasets: list[str]
    train: dict[str, Any]
    rows: list[Row]
    data_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Training settings of one dataset over the family's (e.g. fewer epochs on Criteo).
    dataset_train: dict[str, dict[str, Any]] = field(default_factory=dict)
    reference: Callable[[Row, Mapping[str, Any]], str] | None = None
    extra: dict[str, Callable[[list[Any]], str]] = field(default_factory=dict)
    claims: Callable[[Mapping[str, Any]], list[str]] = lambda rows: []

    def data(self, dataset: str, quick: bool) -> dict[str, Any]:
        if dataset == "movielens-100k":
            out: dict[str, Any] = {"dataset": dataset, "path": MOVIELENS}
            if quick:
                out["rows"] = 20_000
            return out
        if dataset == "adult":
            return {"dataset": "adult", **({"rows": 12_000} if quick else {})}
        if dataset.startswith("criteo-"):  # criteo-1m, criteo-10m: a generated Criteo log
            path = criteo_file(_count(dataset.removeprefix("criteo-")))
            return {"dataset": "criteo", "path": str(path), **({"rows": 50_000} if quick else {})}
        options = {"seed": 0, **self.data_options.get(dataset, {})}
        rows = options.pop("rows", 100_000)
        return {"dataset": "synthetic", "rows": 20_000 if quick else rows, "options": options}


def _count(text: str) -> int:
    """``1m`` -> 1,000,000; ``500k`` -> 500,000."""
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1].lower(), 1)
    return int(text.rstrip("kKmM")) * scale


def criteo_file(rows: int) -> Path:
    """A Criteo-format log of ``rows`` rows (seed 2024, vocabularies up to 2M ids, Zipf
    frequencies: ``_criteo_file.py``), written once into ``$SEARCHENGINE_BENCH_DATA`` (default
    ``~/.cache/searchengine/bench``), never into the repository."""
    from benchmarks._criteo_file import write_criteo

    folder = Path(
        os.environ.get("SEARCHENGINE_BENCH_DATA", Path.home() / ".cache/searchengine/bench")
    )
    path = folder / f"criteo-{rows}.tsv"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        write_criteo(path, rows, seed=2024)
    return path


# ----------------------------------------------------------------------------- helpers


def _mean(measured: Any, get: Callable[[Any], float | None]) -> float:
    return mean_std(measured.column(get))[0]


def _auc(measured: Any) -> list[float]:
    return measured.column(lambda r: r.test.get("auc"))


def _delta(a: Any, b: Any) -> str:
    """``a - b`` in mean test AUC, with the t-test's p."""
    delta = mean_std(_auc(a))[0] - mean_std(_auc(b))[0]
    _, p = welch_t_test(_auc(a), _auc(b))
    return f"test AUC {delta:+.4f} (p = {p:.2g})"


def _params_share(a: Any, b: Any) -> float:
    return _mean(a, lambda r: r.embedding_params) / _mean(b, lambda r: r.embedding_params)


def _auc_verdict(a: Any, b: Any) -> str:
    """``a`` against ``b`` by test AUC: met (a better or equal mean), missed within noise
    (worse on the mean, p >= 0.05), or missed (significantly worse)."""
    if mean_std(_auc(a))[0] >= mean_std(_auc(b))[0]:
        return "**met**"
    _, p = welch_t_test(_auc(a), _auc(b))
    return "**missed within noise**" if not p < 0.05 else "**missed**"


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def _gates_kept(records: list[Any]) -> str:
    shares = []
    for r in records:
        gates = [v for k, v in r.params.items() if k.startswith("model.interactions.gate[")]
        shares.append(sum(map(bool, gates)) / len(gates) if gates else 1.0)
    mean, std = mean_std(shares)
    return f"{100 * mean:.0f}% ± {100 * std:.0f}%"


def _train_seconds(records: list[Any]) -> str:
    mean, std = mean_std([r.metrics.get("train_seconds", math.nan) for r in records])
    return "-" if not math.isfinite(mean) else f"{mean:.1f} ± {std:.1f}"


def _params(records: list[Any]) -> str:
    mean, std = mean_std([r.metrics.get("params", math.nan) for r in records])
    return "-" if not math.isfinite(mean) else f"{mean:,.0f} ± {std:,.0f}"


def _fixed(key: str) -> Callable[[Row, Mapping[str, Any]], str]:
    return lambda row, rows: key


# ------------------------------------------------------------------- embedding (AutoDim)

_DIMS = {"choice": [2, 4, 8, 16, 32], "per": "field"}
_DEEPFM = {"backbone": "deepfm", "embedding": {"dim": _DIMS}, "mlp": {"layers": [64, 32]}}


def _embedding_claims(rows: Mapping[str, Any]) -> list[str]:
    fde, lines = rows["fde"], []
    for key in ("autodim", "autodim_cost", "autodim_budget"):
        if key not in rows:
            continue
        auto = rows[key]
        share = _params_share(auto, fde)
        cost = _mean(auto, lambda r: r.search_seconds) / _mean(fde, lambda r: r.search_seconds)
        lines.append(
            f"- {auto.row.label} - FDE: {_delta(auto, fde)}, {100 * share:.0f}% of FDE's "
            f"embedding parameters, search + retrain {cost:.1f}x FDE's training. Claim "
            f"(AUC >= FDE's with <= 30% of its parameters, <= 3x its time): AUC "
            f"{_auc_verdict(auto, fde)}, parameters {_verdict(share <= 0.3)}, time "
            f"{_verdict(cost <= 3.0)}."
        )
    return lines


EMBEDDING = Family(
    name="embedding",
    description="embedding widths in the shape of AutoDim's table (WWW'21)",
    setup=(
        "DeepFM (MLP 64-32), one width per field from {2, 4, 8, 16, 32}, Adam 1e-3, batch "
        "1024, up to 10 epochs (patience 2), objective validation AUC. FDE: every field at "
        "32; MDE: widths from each field's effective cardinality (alpha 0.3); Random and TPE: "
        "10 trials each (TPE after 4 random start-up trials); AutoDim: the `differentiable` "
        "strategy with its defaults (2 supernet epochs, then the derived widths retrained); "
        "AutoDim + memory: the same with `cost_weight: 0.1` (our extension: 0.1 x the "
        "expected embedding parameters over FDE's added to the architecture loss); "
        "AutoDim + budget: the defaults with `embedding_params` a second objective, so the "
        "widths are held to 30% of FDE's parameters (a Lagrangian on the expected "
        "parameters, the derived widths narrowed until the budget holds)."
    ),
    datasets=["movielens-100k", "adult", "synthetic"],
    train={"lr": 1.0e-3, "batch_size": 1024, "epochs": 10, "patience": 2},
    data_options={"synthetic": {"categorical": 10, "numerical": 3, "max_vocab": 20_000}},
    dataset_train={
        "criteo-1m": {"epochs": 2, "patience": 1, "batch_size": 2048},
        "criteo-10m": {"epochs": 1, "patience": 1, "batch_size": 2048},
    },
    rows=[
        Row("fde", "FDE", "fde", _DEEPFM),
        Row("mde", "MDE", "mde", _DEEPFM),
        Row("random", "Random (10 trials)", "random", _DEEPFM, trials=10),
        Row("tpe", "TPE (10 trials)", "tpe", _DEEPFM, trials=10, options={"n_startup_trials": 4}),
        Row("autodim", "AutoDim", "differentiable", _DEEPFM),
        Row(
            "autodim_cost",
            "AutoDim + memory",
            "differentiable",
            _DEEPFM,
            options={"cost_weight": 0.1},
        ),
        Row(
            "autodim_budget",
            "AutoDim + budget",
            "differentiable",
            _DEEPFM,
            objectives=[{"metric": "auc"}, {"metric": "embedding_params"}],
        ),
    ],  # fmt: skip
    reference=_fixed("fde"),
    claims=_embedding_claims,
)


# --------------------------------------------------------------- interactions (AutoFIS)


def _gated(backbone: str) -> dict[str, Any]:
    return {
        "backbone": backbone,
        "embedding": {"dim": 16},
        "mlp": {"layers": [64, 32]},
        "interactions": {"gate": "search"},
    }


def _interaction_claims(rows: Mapping[str, Any]) -> list[str]:
    lines = []
    for plain, auto, limit in (("fm", "autofm", 0.4), ("deepfm", "autodeepfm", None)):
        p, a = rows[plain], rows[auto]
        kept = mean_std(
            [
                sum(bool(v) for k, v in r.params.items() if "gate[" in k)
                / max(1, sum(1 for k in r.params if "gate[" in k))
                for r in a.records
            ]
        )[0]
        claim = (
            f" Claim (AUC >= FM's keeping <= 40% of the pairs): AUC {_auc_verdict(a, p)}, "
            f"pairs {_verdict(kept <= limit)}."
            if limit
            else ""
        )
        lines.append(
            f"- {a.row.label} - {p.row.label}: {_delta(a, p)}, {100 * kept:.0f}% of the pairs "
            f"kept.{claim}"
        )
    return lines


INTERACTION = Family(
    name="interaction",
    description="interaction gates in the shape of AutoFIS's table (KDD'20)",
    setup=(
        "Width 16, MLP 64-32 (DeepFM), Adam 1e-3, batch 1024, up to 10 epochs (patience 2). "
        "FM / DeepFM: every pair (`fde` on the gate space keeps all); AutoFM / AutoDeepFM: "
        "the `differentiable` strategy with its defaults (the supernet trains train.epochs "
        "= 10 epochs, gates under batch norm scaled by alpha from 0.6, GRDA lr 0.05, mu 0.8, "
        "c set so that the threshold reaches 0.5 x 0.6 at the last step; the pairs ranked "
        "by GRDA's accumulator at the supernet's best epoch, the pruned model retrained "
        "at a few cut points and the fewest pairs kept whose validation logloss is "
        "within one standard error of the best's), then the FM with those pairs retrained."
    ),
    datasets=["movielens-100k", "adult", "synthetic"],
    train={"lr": 1.0e-3, "batch_size": 1024, "epochs": 10, "patience": 2},
    data_options={"synthetic": {"categorical": 10, "numerical": 3, "max_vocab": 20_000}},
    dataset_train={"criteo-1m": {"epochs": 2, "patience": 1, "batch_size": 2048}},
    rows=[
        Row("fm", "FM", "fde", _gated("fm")),
        Row("autofm", "AutoFM", "differentiable", _gated("fm")),
        Row("deepfm", "DeepFM", "fde", _gated("deepfm")),
        Row("autodeepfm", "AutoDeepFM", "differentiable", _gated("deepfm")),
    ],
    reference=lambda row, rows: "deepfm" if "deep" in row.key else "fm",
    extra={"pairs kept": _gates_kept},
    claims=_interaction_claims,
)


# ------------------------------------------------------------------ numerical (AutoDis)


def _numerical(method: Any) -> dict[str, Any]:
    return {
        "backbone": "deepfm",
        "embedding": {
            "dim": 16,
            "numerical": method,
            "bucket": {"count": 10, "method": "frequency"},
            "autodis": {"meta": 16, "temperature": 1.0, "aggregation": "weighted"},
        },
        "mlp": {"layers": [128, 64]},
    }


def _numerical_claims(rows: Mapping[str, Any]) -> list[str]:
    best = max(("scalar", "bucket"), key=lambda k: mean_std(_auc(rows[k]))[0])
    auto = rows["autodis"]
    searched = rows["searched"]
    return [
        f"- AutoDis - best baseline ({rows[best].row.label}): {_delta(auto, rows[best])}. "
        f"Claim (AutoDis at least as good as the best baseline): "
        f"{_auc_verdict(auto, rows[best])}.",
        f"- searched per field - AutoDis: {_delta(searched, auto)}.",
    ]


NUMERICAL = Family(
    name="numerical",
    description="numerical-field embeddings in the shape of AutoDis's table (KDD'21)",
    setup=(
        "DeepFM, width 16, MLP 128-64, Adam 1e-3, batch 1024, up to 15 epochs (patience 2). "
        "scalar / bucket (10 equal-frequency buckets) / autodis (H = 16, temperature 1, "
        "weighted aggregation) for every numerical field; searched: each field's method "
        "relaxed by the `differentiable` strategy (a DARTS mixed operation, 2 epochs), the "
        "derived methods retrained."
    ),
    datasets=["adult", "synthetic"],
    train={"lr": 1.0e-3, "batch_size": 1024, "epochs": 15, "patience": 2},
    data_options={
        "synthetic": {"categorical": 8, "numerical": 6, "max_vocab": 2_000, "rows": 60_000}
    },  # fmt: skip
    rows=[
        Row("scalar", "scalar", "random", _numerical("scalar")),
        Row("bucket", "bucket", "random", _numerical("bucket")),
        Row("autodis", "autodis", "random", _numerical("autodis")),
        Row(
            "searched",
            "searched per field",
            "differentiable",
            _numerical({"choice": ["scalar", "bucket", "autodis"], "per": "field"}),
        ),
    ],  # fmt: skip
    reference=_fixed("scalar"),
    claims=_numerical_claims,
)


# ------------------------------------------------------------------------------ NIS


def _multisize(sizes: int | None) -> Callable[[Fields], dict[str, Any]]:
    def model(fields: Fields) -> dict[str, Any]:
        multisize: dict[str, Any] = {"buckets": 4, "chunk": 4, "chunks": 4, "monotone": True}
        if sizes is not None:
            multisize["sizes"] = {name: [sizes] * 4 for name in fields["categorical"]}
        return {
            "backbone": "deepfm",
            "embedding": {"dim": 16, "multisize": multisize},
            "mlp": {"layers": [64, 32]},
        }

    return model


def _share_claim(
    label: str, rows: Mapping[str, Any], searched: str, full: str, most: float = 1.0
) -> list[str]:
    share = _params_share(rows[searched], rows[full])
    return [
        f"- {rows[searched].row.label} - {rows[full].row.label}: "
        f"{_delta(rows[searched], rows[full])}; {100 * share:.0f}% of the full model's "
        f"embedding parameters ({100 * (1 - share):.0f}% less). {label}: AUC "
        f"{_auc_verdict(rows[searched], rows[full])}, memory {_verdict(share < most)}."
    ]


NIS = Family(
    name="nis",
    description="NIS multi-size embeddings (KDD'20) searched by rl with weight sharing",
    setup=(
        "DeepFM, categorical fields as multi-size embeddings (4 frequency buckets per field, "
        "vectors of 4 blocks of width 4, head buckets never smaller), numerical fields at "
        "width 16, MLP 64-32, Adam 2e-3, batch 1024, up to 4 epochs (patience 1). full: every "
        "bucket at 4 blocks; NIS: `rl` with `weight_sharing` (the supernet trains 4 epochs, "
        "the controller learns after half of them, reward = a validation batch's AUC - 0.5 x "
        "the spread (std) of the batch AUCs it has seen x the relative embedding "
        "parameters), its most probable architecture retrained; half: "
        "every bucket at 2 blocks."
    ),
    datasets=["movielens-100k", "synthetic"],
    train={"lr": 2.0e-3, "batch_size": 1024, "epochs": 4, "patience": 1},
    data_options={"synthetic": {"categorical": 8, "numerical": 2, "max_vocab": 20_000}},
    dataset_train={"criteo-1m": {"epochs": 2, "batch_size": 2048}},
    rows=[
        Row("full", "full", "fde", _multisize(None)),
        Row(
            "nis",
            "NIS",
            "rl",
            _multisize(None),
            options={"weight_sharing": True, "cost_weight": 0.5, "supernet_epochs": 4},
        ),
        Row("half", "half", "random", _multisize(2)),
    ],  # fmt: skip
    reference=_fixed("full"),
    claims=lambda rows: _share_claim(
        "Claim (the same or better quality at a fraction of the memory)", rows, "nis", "full"
    ),
)


# ---------------------------------------------------------------------------- ESAPN

_DYNAMIC = {"movielens-100k": ["user_id", "item_id"], "synthetic": ["C5", "C6"]}


def _esapn(width: int | None) -> Callable[[Fields], dict[str, Any]]:
    def model(fields: Fields) -> dict[str, Any]:
        known = {name for names in _DYNAMIC.values() for name in names}
        dynamic = [f for f in fields["categorical"] if f in known]
        embedding: dict[str, Any]
        if width is None:
            embedding = {"dim": 16, "dynamic": {"candidates": [2, 4, 8, 16, 64, 128],
                                                "fields": dynamic}}  # fmt: skip
        else:
            embedding = {"dim": {n: (width if n in dynamic else 16) for n in fields["all"]}}
        return {"backbone": "deepfm", "embedding": embedding, "mlp": {"layers": [64, 32]}}

    return model


ESAPN = Family(
    name="esapn",
    description="ESAPN dynamic embedding sizes (SIGIR'20)",
    setup=(
        "DeepFM, MLP 64-32, Adam 2e-3, batch 1024, up to 10 epochs (patience 2); other fields "
        "at width 16. full: the dynamic fields (MovieLens: user_id, item_id; synthetic: C5, "
        "C6, the two largest, sharing a planted interaction) as plain 128-wide tables; "
        "ESAPN: the `esapn` strategy (candidates 2, 4, 8, 16, 64, 128; one search pass, "
        "T = 5), the final sizes retrained from scratch; smallest: those fields at width 2."
    ),
    datasets=["movielens-100k", "synthetic"],
    train={"lr": 2.0e-3, "batch_size": 1024, "epochs": 10, "patience": 2},
    data_options={"synthetic": {"categorical": 6, "numerical": 2, "max_vocab": 5_000}},
    rows=[
        Row("full", "full", "random", _esapn(128)),
        Row("esapn", "ESAPN", "esapn", _esapn(None)),
        Row("smallest", "smallest", "random", _esapn(2)),
    ],
    reference=_fixed("full"),
    extra={"train s": _train_seconds},
    claims=lambda rows: _share_claim(
        "Claim (same or better quality with 40-90% less memory)", rows, "esapn", "full", 0.6
    ),
)

# --------------------------------------------------------------------------- AutoCTR

_DAG_SPACE = {
    "count": {"int": [2, 5]},
    "types": ["mlp", "dot", "fm", "cross", "efc"],
    "max_inputs": 3,
    "width": {"choice": [64, 128, 256]},
    "layers": {"int": [1, 3]},
    "fields": {"choice": [4, 8]},
}
_DAG = {"backbone": "blocks", "embedding": {"dim": 16}, "blocks": _DAG_SPACE}
#: the wall-clock budget of every DAG search, the final retrains included
_DAG_SECONDS = 90.0
#: cheap candidates: a seeded quarter of the train rows, 2 epochs; the 3 best retrained
_CHEAP = {"subsample": 0.25, "epochs": 2, "retrain": 3}


def _trials(records: list[Any]) -> str:
    mean, std = mean_std([float(r.trials) for r in records])
    return f"{mean:.0f} ± {std:.0f}"


def _autoctr_claims(rows: Mapping[str, Any]) -> list[str]:
    best = max(("deepfm", "dcn"), key=lambda k: mean_std(_auc(rows[k]))[0])
    auto = rows["autoctr"]
    return [
        f"- AutoCTR - best hand-designed ({rows[best].row.label}): {_delta(auto, rows[best])}. "
        f"Claim (a searched DAG at least as good as the hand-designed models): "
        f"{_auc_verdict(auto, rows[best])}.",
        f"- AutoCTR - random DAGs in the same wall time: {_delta(auto, rows['random'])}; "
        f"against random DAGs with the same cheap candidates and retrains: "
        f"{_delta(auto, rows['random_cheap'])}.",
    ]


AUTOCTR = Family(
    name="autoctr",
    description="AutoCTR (KDD'20): DAGs of virtual blocks searched by evolution",
    setup=(
        "Width 16, Adam 1e-3, batch 1024, up to 10 epochs (patience 2). DeepFM (MLP 256-128) "
        "and DCN (3 cross layers, MLP 256-128) as designed by hand; the DAG space: 2 to 5 "
        "blocks of mlp, dot, fm, cross or efc, each reading 1 to 3 of the raw inputs and "
        "earlier blocks, mlp width {64, 128, 256} and 1 to 3 layers, efc 4 or 8 fields. "
        f"Every DAG search has {_DAG_SECONDS:.0f} s of wall time (`compare --budget "
        f"{_DAG_SECONDS:.0f}s`), objective validation AUC. Random: random DAGs trained as "
        "`train` says; random, cheap: random DAGs trained on a seeded quarter of the train "
        "rows for 2 epochs, the 3 best retrained as `train` says (`search.fidelity: "
        "{subsample: 0.25, epochs: 2, retrain: 3}`, the retrains inside the time); AutoCTR: "
        "`evolution` with AutoCTR's mutation (population 8) on the same cheap candidates, "
        "from fresh weights (no `warm_start`: see below), the 3 best retrained. Each "
        "search's model is its best by validation AUC (for the cheap ones, the best "
        "retrain). trials: candidates and retrains per run. params: all trainable weights."
    ),
    datasets=["movielens-100k", "adult", "synthetic"],
    train={"lr": 1.0e-3, "batch_size": 1024, "epochs": 10, "patience": 2},
    data_options={"synthetic": {"categorical": 10, "numerical": 3, "max_vocab": 20_000}},
    rows=[
        Row(
            "deepfm",
            "DeepFM",
            "random",
            {"backbone": "deepfm", "embedding": {"dim": 16}, "mlp": {"layers": [256, 128]}},
        ),
        Row(
            "dcn",
            "DCN",
            "random",
            {
                "backbone": "dcn",
                "embedding": {"dim": 16},
                "mlp": {"layers": [256, 128]},
                "cross": {"layers": 3},
            },
        ),
        Row("random", "Random DAGs", "random", _DAG, seconds=_DAG_SECONDS),
        Row(
            "random_cheap",
            "Random DAGs, cheap",
            "random",
            _DAG,
            seconds=_DAG_SECONDS,
            search={"fidelity": _CHEAP},
        ),
        Row(
            "autoctr",
            "AutoCTR",
            "evolution",
            _DAG,
            options={"population_size": 8, "mutation": "dag"},
            seconds=_DAG_SECONDS,
            search={"fidelity": _CHEAP},
        ),
    ],  # fmt: skip
    reference=lambda row, rows: "deepfm",
    extra={"params": _params, "trials": _trials},
    claims=_autoctr_claims,
)

# ------------------------------------------------------------------------- pruning (PEP)

_FM_WIDTHS = {"backbone": "fm", "embedding": {"dim": {"choice": [2, 4, 8, 16], "per": "field"}}}
_FM16 = {"backbone": "fm", "embedding": {"dim": 16}}
_PEP = {"threshold_lr": 5.0e-2, "threshold_decay": 1.0e-3, "extra_epochs": 10}
_PEP_TARGETS = (0.5, 0.2, 0.1)


def _pruning_claims(rows: Mapping[str, Any]) -> list[str]:
    fde, lines = rows["fde"], []
    for target in _PEP_TARGETS:
        pep = rows[f"pep{round(100 * target)}"]
        share = _params_share(pep, fde)
        lines.append(
            f"- {pep.row.label} - FDE: {_delta(pep, fde)}, {100 * share:.1f}% of FDE's "
            f"embedding parameters. Claim (AUC >= FDE's at the target size): AUC "
            f"{_auc_verdict(pep, fde)}, size {_verdict(share <= target + 1e-9)}."
        )
    auto = rows["autodim"]
    lines.append(
        f"- AutoDim - FDE: {_delta(auto, fde)}, {100 * _params_share(auto, fde):.1f}% of "
        "FDE's embedding parameters (widths per field, for comparison)."
    )
    return lines


PRUNING = Family(
    name="pruning",
    description="embedding pruning in the shape of PEP's table (ICLR'21)",
    setup=(
        "FM, Adam 2e-3, batch 512, up to 10 epochs (patience 2). FDE: every field at 16; "
        "MDE: widths from {2, 4, 8, 16} by each field's effective cardinality; AutoDim: "
        "`differentiable` on those widths (its defaults); PEP: `pep` on the 16-wide FM, "
        "thresholds per field and dimension from s = -15 (Adam 5e-2, L2 1e-3 on s), the "
        "masks taken when the kept values first fall to the row's share of FDE's embedding "
        "parameters and retrained from the search's initial values (one search per row "
        "here; one search records all three targets in a study)."
    ),
    datasets=["movielens-100k"],
    train={"lr": 2.0e-3, "batch_size": 512, "epochs": 10, "patience": 2},
    rows=[
        Row("fde", "FDE", "fde", _FM_WIDTHS),
        Row("mde", "MDE", "mde", _FM_WIDTHS),
        Row("autodim", "AutoDim", "differentiable", _FM_WIDTHS),
        *[
            Row(
                f"pep{round(100 * t)}",
                f"PEP {round(100 * t)}%",
                "pep",
                _FM16,
                options={**_PEP, "targets": [t]},
            )
            for t in _PEP_TARGETS
        ],
    ],  # fmt: skip
    reference=_fixed("fde"),
    extra={"train s": _train_seconds},
    claims=_pruning_claims,
)

# ------------------------------------------------------------------ fields (AutoField)

_KEEP = "model.fields.keep["
_SELECTED = {"backbone": "deepfm", "embedding": {"dim": 8}, "mlp": {"layers": [64, 32]},
             "fields": {"keep": "search"}}  # fmt: skip
_FIELDS_SYNTHETIC = {"categorical": 8, "numerical": 2, "informative": 3, "interactions": 1,
                     "max_vocab": 2_000, "signal": 1.5}  # fmt: skip


def _kept_fields(record: Any) -> set[str]:
    return {k[len(_KEEP) : -1] for k, v in record.params.items() if k.startswith(_KEEP) and v}


def _fields_kept(records: list[Any]) -> str:
    counts = [len(_kept_fields(r)) for r in records]
    total = max((sum(k.startswith(_KEEP) for k in r.params) for r in records), default=0)
    mean, std = mean_std([float(c) for c in counts])
    return f"{mean:.1f} ± {std:.1f} of {total}" if total else "all"


def _planted_fields() -> set[str]:
    """The fields the synthetic label depends on (first order, a pair, a numerical
    effect): drawn from the seed alone, so the data need not be read."""
    from searchengine.data import DATASETS
    from searchengine.spec.format import DataSpec

    options = {"seed": 0, **_FIELDS_SYNTHETIC}
    truth = DATASETS.get("synthetic")(
        DataSpec(dataset="synthetic", rows=10, options=options)
    ).metadata()["truth"]
    pairs = {f for pair in truth["interactions"] for f in pair}
    return set(truth["informative"]) | pairs | {truth["nonlinear"]} - {None}


def _fields_claims(rows: Mapping[str, Any]) -> list[str]:
    full, lines = rows["all"], []
    synthetic = any("synthetic" in r.study for r in full.records)
    planted = _planted_fields() if synthetic else set()
    for key in ("autofield", "autofield_cost", "fieldperm"):
        m = rows[key]
        line = f"- {m.row.label} - all fields: {_delta(m, full)}, {_fields_kept(m.records)} kept"
        if planted and m.records:
            found = [_kept_fields(r) for r in m.records]
            hits = mean_std([len(k & planted) / len(planted) for k in found])[0]
            extra = mean_std([float(len(k - planted)) for k in found])[0]
            exact = sum(k == planted for k in found)
            line += (
                f"; planted fields {sorted(planted)}: {100 * hits:.0f}% kept, "
                f"{extra:.1f} noise field(s) kept on average, exact in {exact} of "
                f"{len(found)} run(s). Claim (the noise fields dropped, the informative "
                f"ones kept): {_verdict(exact == len(found))}"
            )
        lines.append(line + f"; AUC {_auc_verdict(m, full)}.")
    return lines


FIELDS = Family(
    name="fields",
    description="field selection: AutoField (WWW'22) and permutation importance vs all fields",
    setup=(
        "DeepFM, width 8, MLP 64-32, Adam 1e-3, batch 1024, up to 6 epochs (patience 1), one "
        "keep/drop decision per field (`model.fields.keep: search`). all fields: `fde` (every "
        "field kept); AutoField: the `differentiable` strategy (a Gumbel-softmax keep gate "
        "g per field mixing its embedding and first-order term x with a learned constant c, "
        "g x + (1 - g) c, trained on validation batches for train.epochs, fields with "
        "P(keep) > 0.5 kept, then retrained); AutoField + cost: the same with `cost_weight: "
        "0.02` x the expected share of fields kept on the architecture loss; fieldperm: the "
        "full model trained once, each field's validation AUC drop over 3 seeded shuffles, "
        "fields with a drop <= 0.0005 dropped, then retrained. Synthetic: 8 categorical and "
        "2 numerical fields, the label depending on 3 categorical fields (first order), "
        "one planted pair and both numerical fields; the other 3 are noise."
    ),
    datasets=["adult", "synthetic", "movielens-100k"],
    train={"lr": 1.0e-3, "batch_size": 1024, "epochs": 6, "patience": 1},
    data_options={"synthetic": {**_FIELDS_SYNTHETIC, "rows": 60_000}},
    rows=[
        Row("all", "all fields", "fde", _SELECTED),
        Row("autofield", "AutoField", "differentiable", _SELECTED),
        Row(
            "autofield_cost",
            "AutoField + cost",
            "differentiable",
            _SELECTED,
            options={"cost_weight": 0.02},
        ),
        Row(
            "fieldperm",
            "fieldperm",
            "fieldperm",
            _SELECTED,
            options={"tolerance": 0.0005, "repeats": 3},
        ),
    ],  # fmt: skip
    reference=_fixed("all"),
    extra={"fields kept": _fields_kept},
    claims=_fields_claims,
)

# ------------------------------------------------------------------------- backbones

_MLP = {"layers": [256, 128]}
_BACKBONES: list[tuple[str, str, dict[str, Any]]] = [
    ("fm", "FM", {}),
    ("fwfm", "FwFM", {}),
    ("wide_deep", "Wide & Deep", {"mlp": _MLP}),
    ("deepfm", "DeepFM", {"mlp": _MLP}),
    ("dcn", "DCN", {"mlp": _MLP, "cross": {"layers": 3}}),
    ("dcnv2", "DCNv2", {"mlp": _MLP, "dcnv2": {"layers": 3}}),
    ("autoint", "AutoInt", {"autoint": {"layers": 3, "heads": 2, "dim": 16}}),
    (
        "autoint_plus",
        "AutoInt+",
        {"mlp": _MLP, "autoint": {"layers": 3, "heads": 2, "dim": 16, "deep": True}},
    ),
    ("finalmlp", "FinalMLP", {"mlp": _MLP, "finalmlp": {"layers": [256, 128], "heads": 2}}),
]
#: BARS's published test AUCs on Criteo_x1 (FuxiCTR, https://openbenchmark.github.io/BARS).
_BARS = {
    "deepfm": 0.8137,
    "dcn": 0.8138,
    "dcnv2": 0.8142,
    "autoint_plus": 0.8139,
    "finalmlp": 0.8149,
}


def _backbone(key: str, settings: dict[str, Any]) -> dict[str, Any]:
    backbone = key.removesuffix("_plus")  # AutoInt+ is autoint with `deep`
    return {"backbone": backbone, "embedding": {"dim": 16}, **settings}


def _backbone_claims(rows: Mapping[str, Any]) -> list[str]:
    deepfm = rows["deepfm"]
    ours = sorted(_BARS, key=lambda k: -mean_std(_auc(rows[k]))[0])
    bars = sorted(_BARS, key=lambda k: -_BARS[k])
    lines = [
        "- Context, not a claim checked on the same data: BARS's published Criteo_x1 test "
        "AUCs (" + ", ".join(f"{rows[k].row.label} {_BARS[k]:.4f}" for k in bars) + "); "
        "the data here differ (another dataset, its own split and preprocessing, our "
        "epochs and widths), so only the ordering and the gaps to DeepFM can be compared.",
        "- Ordering by mean test AUC here: "
        + " > ".join(rows[k].row.label for k in ours)
        + "; BARS: "
        + " > ".join(rows[k].row.label for k in bars)
        + ".",
    ]
    for key in ("dcn", "dcnv2", "autoint_plus", "finalmlp"):
        gap = _BARS[key] - _BARS["deepfm"]
        lines.append(
            f"- {rows[key].row.label} - DeepFM: {_delta(rows[key], deepfm)} (BARS: "
            f"{gap:+.4f}); at least DeepFM's AUC: {_auc_verdict(rows[key], deepfm)}."
        )
    return lines


BACKBONES = Family(
    name="backbones",
    description="today's strong backbones side by side at equal epochs (BARS's context)",
    setup=(
        "Width 16, Adam 1e-3, batch 1024, up to 10 epochs (patience 2) for every model. "
        "Wide & Deep, DeepFM, DCN (3 cross layers), DCNv2 (3 full-rank cross layers, "
        "parallel), AutoInt+ and FinalMLP share the MLP 256-128; AutoInt: 3 attention layers "
        "of 2 heads of width 16 (AutoInt+ adds the MLP); FinalMLP: streams 256-128 and "
        "256-128, feature gates of width 64, 2 fusion heads. Fixed models, no search: one "
        "training per seed."
    ),
    datasets=["movielens-100k", "adult", "synthetic"],
    train={"lr": 1.0e-3, "batch_size": 1024, "epochs": 10, "patience": 2},
    data_options={"synthetic": {"categorical": 10, "numerical": 3, "max_vocab": 20_000}},
    dataset_train={"criteo-1m": {"epochs": 2, "patience": 1, "batch_size": 2048}},
    rows=[Row(key, label, "random", _backbone(key, s)) for key, label, s in _BACKBONES],
    reference=_fixed("deepfm"),
    extra={"train s": _train_seconds},
    claims=_backbone_claims,
)

FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        EMBEDDING,
        INTERACTION,
        NUMERICAL,
        NIS,
        ESAPN,
        AUTOCTR,
        PRUNING,
        FIELDS,
        BACKBONES,
    )
}
