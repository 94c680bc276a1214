"""Seeds for every strategy: one place that turns a spec's seed and a study's state into
the seeds samplers and policies draw from.

* :func:`continued_seed`: the seed a strategy starts from, so that a rerun or another
  worker on one study continues the search instead of replaying it.
* :func:`mix_seed`: one 32-bit seed from several integers (a study's seed and a tag, a
  generation, a trial number...), so that separate random streams never share a state.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["continued_seed", "mix_seed", "name_seed"]


def continued_seed(seed: int | None, *, started: int, worker: int | None = None) -> int | None:
    """The seed a strategy starts from on a study that already holds ``started`` trials.

    A sampler that keeps its random state in the process (Optuna's ``TPESampler`` and
    ``RandomSampler``) replays the same asks from the same seed: a rerun of a seeded
    search would give its new trials the parameters of the first ones, and a worker the
    asks of another. So ``seed`` is kept for the first worker of a fresh study, and
    otherwise mixed with the trials already in the study and the worker's index: a rerun
    continues the search, and the same commands still give the same trials.

    Args:
        seed: ``search.seed`` (None: unseeded, stays None).
        started: the trials in the study before this run asks any (every state counts,
            so the trial a Ctrl-C interrupted is not proposed again).
        worker: the worker's index among several on one study (None or 0: the first).

    Returns:
        A seed in ``[0, 2**31)``, or None.
    """
    if seed is None:
        return None
    if started == 0 and not worker:
        return seed
    key = f"{seed}:{started}:{worker or 0}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=4).digest(), "little") & 0x7FFFFFFF


def mix_seed(*parts: int) -> int:
    """One 32-bit seed from several integers (a study seed, a tag, a generation...)."""
    return int(np.random.SeedSequence([p & 0xFFFFFFFF for p in parts]).generate_state(1)[0])


def name_seed(name: str) -> int:
    """A 32-bit integer from a name (a decision's), stable across processes."""
    return int.from_bytes(hashlib.sha1(name.encode()).digest()[:4], "little")
