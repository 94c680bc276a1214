"""Compare strategies fairly: the same space, data split and budget, several seeds.

``compare(spec, ["random", "tpe", "fde"], seeds=3)`` runs every strategy once per seed,
each run in its own study of one storage (``runs/<name>/compare/compare.db``), so that all
of it can be resumed and inspected, and summarizes them in a table in the shape of the
AutoDim paper's: mean ± std over seeds of test AUC, test logloss, embedding parameters and
search seconds, with a two-sided Welch t-test of each strategy against the best baseline.
"""

from searchengine.compare._compare import BASELINES, Comparison, RunRecord, compare, parse_budget
from searchengine.compare._stats import mean_std, welch_t_test

__all__ = [
    "BASELINES",
    "Comparison",
    "RunRecord",
    "compare",
    "mean_std",
    "parse_budget",
    "welch_t_test",
]
