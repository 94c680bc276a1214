"""keep_freed_memory: repeated large allocations stop faulting in fresh pages."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)

# Repeats a pattern of a training step, tensors of 2 to 12 MiB allocated and freed out of
# order; prints whether malloc was tuned and the page faults of 100 steps. "fixed" holds
# glibc's initial thresholds (128 KiB) fixed: untuned, whether glibc's own adjustment of
# them spares a process the faults depends on its heap's history (seen here: 6,144 or
# 610,720 faults for the same probe), so the untuned default cannot be the reference.
PROBE = """
import ctypes, resource, sys, torch
from searchengine.evaluation import _allocator
tuned = _allocator.keep_freed_memory() if sys.argv[1] == "tune" else False
if sys.argv[1] == "fixed":
    libc = ctypes.CDLL("libc.so.6")
    assert libc.mallopt(_allocator._M_MMAP_THRESHOLD, 128 * 1024)
    assert libc.mallopt(_allocator._M_TRIM_THRESHOLD, 128 * 1024)
def step():
    a, b, c = torch.ones(1 << 20), torch.ones(1 << 21), torch.ones(3 << 20)
    del b
    d = torch.ones(1 << 19)
    return float(a.sum() + c.sum() + d.sum())
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(100):
    step()
print(tuned, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _probe(mode: str, **env: str) -> tuple[bool, int]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    environ.pop("GLIBC_TUNABLES", None)
    environ.update(OMP_NUM_THREADS="1", **env)
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], env=environ, capture_output=True, text=True,
        check=True,
    ).stdout.split()  # fmt: skip
    return out[0] == "True", int(out[1])


@pytest.mark.skipif(bool(os.environ.get("LD_PRELOAD")), reason="an allocator is preloaded")
def test_large_buffers_are_reused_instead_of_faulted_in_again() -> None:
    tuned, faults = _probe("tune")
    untuned, plain_faults = _probe("fixed")
    assert tuned and not untuned
    # with small thresholds every block is mapped afresh and faulted in page by page:
    # 100 steps of 26 MiB are 665,600 pages of 4 KiB
    assert plain_faults > 300_000, plain_faults
    assert faults < plain_faults / 50, (faults, plain_faults)


def test_the_users_own_malloc_settings_are_left_alone() -> None:
    tuned, _ = _probe("tune", MALLOC_TRIM_THRESHOLD_="1000000")
    assert not tuned
