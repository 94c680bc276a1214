"""What ESAPN's policies could learn: did enlarging an id lower its loss, by frequency?

Reads the ``esapn`` rows of a ``reproduce.py`` output folder (its ``reproduce.db``) and
prints, per dataset and dynamic field:

* the learned P(enlarge) at the smallest size over evenly spaced log frequencies (rarest
  first) for each seed, with Spearman's rho (positive: rising with frequency);
* the loss drops the policy was rewarded with, pooled over the seeds into frequency
  thirds (quantile deciles 0-3, 4-6, 7-9): the enlargements' mean drop over the kept
  ids' (``gain``) with its standard error. A gain within noise in every third means the
  data gave the policy no reason to enlarge frequent ids more than rare ones; the memory
  term of the reward is then all that can make P(enlarge) rise with frequency.

    python benchmarks/reproduce.py --out runs/r --families esapn --rows esapn
    python benchmarks/esapn_signal.py --out runs/r
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import optuna
from scipy.stats import spearmanr

_THIRDS = {"rare (deciles 0-3)": range(0, 4), "middle (4-6)": range(4, 7),
           "frequent (7-9)": range(7, 10)}  # fmt: skip


def _pool(rows: list[dict[str, float]]) -> tuple[float, float, int]:
    """The pooled gain, its standard error and the decisions, over ``rows``."""
    stats = []
    for action in ("keep", "enlarge"):
        n = sum(r[action] for r in rows)
        if n < 2:
            return math.nan, math.nan, int(n)
        mean = sum(r[action] * r[f"drop_{action}"] for r in rows) / n
        # within-row variance plus the spread of the row means around the pooled mean
        ss = sum(
            (r[action] - 1) * r[f"sd_{action}"] ** 2
            + r[action] * (r[f"drop_{action}"] - mean) ** 2
            for r in rows
            if r[action] > 0
        )
        stats.append((n, mean, ss / (n - 1)))
    (nk, mk, vk), (ne, me, ve) = stats
    return me - mk, math.sqrt(vk / nk + ve / ne), int(nk + ne)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="a reproduce.py --out folder")
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{Path(args.out).resolve() / 'reproduce.db'}"
    by_field: dict[tuple[str, str], list[dict]] = {}
    for summary in optuna.get_all_study_summaries(storage):
        if not summary.study_name.startswith("esapn-") or ".esapn." not in summary.study_name:
            continue
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        dataset = summary.study_name.split(".")[0].removeprefix("esapn-").removesuffix("-esapn")
        for trial in study.trials:
            report = trial.user_attrs.get("esapn", {})
            for name, p in report.get("enlarge_probability", {}).items():
                by_field.setdefault((dataset, name), []).append(
                    {"seed": summary.study_name.rsplit("seed", 1)[-1], "p": p,
                     "drops": report.get("drop_by_frequency", {}).get(name, [])}
                )  # fmt: skip
    for (dataset, name), runs in sorted(by_field.items()):
        print(f"\n**{dataset}, {name}**\n")
        print("| seed | P(enlarge), rarest to most frequent | Spearman rho |")
        print("|---|---|---:|")
        for run in runs:
            rho = spearmanr(range(len(run["p"])), run["p"]).statistic
            cells = ", ".join(f"{x:.3f}" for x in run["p"])
            print(f"| {run['seed']} | {cells} | {rho:+.2f} |")
        rows = [r for run in runs for r in run["drops"]]
        if not rows:
            continue
        print("\n| frequency | decisions | gain of enlarging (loss drop) | ± se |")
        print("|---|---:|---:|---:|")
        for label, deciles in _THIRDS.items():
            gain, se, n = _pool([r for r in rows if r["decile"] in deciles])
            print(f"| {label} | {n:,} | {gain:+.4f} | {se:.4f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
