"""How the benchmarks measure: peak memory, step times, and the machine they ran on."""

from __future__ import annotations

import contextlib
import ctypes
import datetime
import gc
import os
import platform
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = [
    "Run",
    "StepClock",
    "anon_peak",
    "machine",
    "others_cpu",
    "peak_memory",
    "release_memory",
    "rss_anon",
    "wait_idle",
]

_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Run:
    """What one framework measured on one dataset.

    Attributes:
        framework: who trained.
        samples_per_s: training rows x epochs / seconds of the training passes.
        step_samples_per_s: batch size / median seconds of a step (see StepClock).
        peak_mib: peak memory while building, training, validating, testing (MiB).
        test_auc: test AUC of the epoch with the best validation AUC.
        train_seconds: seconds of the training passes.
        best_epoch: that epoch, 1-based.
        valid_auc: validation AUC after each epoch.
        others_cpu: the share of the machine's CPU time that other processes used
            meanwhile (0 on a quiet machine; see :func:`others_cpu`).
    """

    framework: str
    samples_per_s: float
    step_samples_per_s: float
    peak_mib: float
    test_auc: float
    train_seconds: float
    best_epoch: int
    valid_auc: list[float]
    others_cpu: float


def _anonymous_bytes() -> int:
    """Resident memory not backed by files (``RssAnon + RssShmem``'s anonymous part):
    ``resident - shared`` of ``/proc/self/statm``. Library code paged in on first use
    is file-backed and so not counted."""
    with open("/proc/self/statm") as f:
        fields = f.read().split()
    return (int(fields[1]) - int(fields[2])) * _PAGE


def _release_memory() -> None:
    """Return freed heap pages to the OS, so that a baseline is not inflated by them."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc
        ctypes.CDLL("libc.so.6").malloc_trim(0)


release_memory = _release_memory


def rss_anon() -> int:
    """This process's resident anonymous memory in bytes (``RssAnon`` of
    ``/proc/self/status``): heap and other private pages; pages of files, memory-mapped
    data included, are not counted (the OS can drop and re-read them)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise OSError("no RssAnon in /proc/self/status")


@contextlib.contextmanager
def anon_peak(interval: float = 0.02) -> Iterator[dict[str, int]]:
    """Sample :func:`rss_anon` every ``interval`` seconds in a thread; on exit,
    ``out["baseline"]`` is the value just before the block (after freed memory was
    returned to the OS) and ``out["peak"]`` the highest value seen, both in bytes."""
    _release_memory()
    out = {"baseline": rss_anon(), "peak": 0}
    out["peak"] = out["baseline"]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            out["peak"] = max(out["peak"], rss_anon())
            done.wait(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield out
    finally:
        done.set()
        thread.join()
        out["peak"] = max(out["peak"], rss_anon())


@contextlib.contextmanager
def peak_memory(interval: float = 0.005) -> Iterator[dict[str, float]]:
    """Sample anonymous resident memory every ``interval`` seconds in a thread; on exit,
    ``out["peak_mib"]`` is the peak minus the value just before the block."""
    _release_memory()
    baseline = _anonymous_bytes()
    peak = [baseline]
    out = {"peak_mib": 0.0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _anonymous_bytes())
            done.wait(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield out
    finally:
        done.set()
        thread.join()
        peak[0] = max(peak[0], _anonymous_bytes())
        out["peak_mib"] = (peak[0] - baseline) / 2**20


def _busy_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of the whole machine, from ``/proc/stat``."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:9]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    return sum(ticks) - idle, sum(ticks)


def _own_ticks() -> int:
    """Clock ticks this process has run (user + system, all threads)."""
    with open("/proc/self/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


@contextlib.contextmanager
def others_cpu() -> Iterator[dict[str, float]]:
    """On exit, ``out["share"]``: the share of all cores' time that processes other than
    this one kept busy during the block. Timings taken at a high share are unreliable."""
    busy0, total0 = _busy_ticks()
    own0 = _own_ticks()
    out = {"share": 0.0}
    try:
        yield out
    finally:
        busy1, total1 = _busy_ticks()
        others = (busy1 - busy0) - (_own_ticks() - own0)
        out["share"] = max(others, 0) / max(total1 - total0, 1)


def wait_idle(max_seconds: float, *, busy: float = 0.1, window: float = 3.0) -> bool:
    """Wait until other processes keep less than ``busy`` of the machine's CPU busy over
    ``window`` seconds; give up after ``max_seconds``. Returns whether it is idle."""
    deadline = time.monotonic() + max_seconds
    while True:
        with others_cpu() as others:
            time.sleep(window)
        if others["share"] < busy:
            return True
        if time.monotonic() >= deadline:
            return False


class StepClock:
    """When each training step began, from a forward pre-hook on the model.

    Both frameworks call the model once per training step; calls in eval mode
    (validation, prediction) are ignored. The median gap between consecutive starts is
    the time of one whole step (batch, forward, backward, update); unlike the total, it
    shrugs off bursts of load from other processes on a shared machine.
    """

    def __init__(self) -> None:
        self.starts: list[float] = []

    def attach(self, model: torch.nn.Module) -> None:
        model.register_forward_pre_hook(self._hook)

    def reset(self) -> None:
        self.starts.clear()

    def _hook(self, model: torch.nn.Module, args: Any) -> None:
        if model.training:
            self.starts.append(time.perf_counter())

    def samples_per_s(self, batch_size: int) -> float:
        """``batch_size`` / the median seconds between step starts."""
        gaps = np.diff(self.starts)
        return batch_size / float(np.median(gaps)) if gaps.size else float("nan")


def machine() -> str:
    """One line on where the numbers come from."""
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    now = datetime.datetime.now().astimezone()
    return (
        f"{os.cpu_count()} cores, CPU only ({platform.processor() or platform.machine()}), "
        f"Python {platform.python_version()}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), numpy {np.__version__}; "
        f"load average at start {load}; {now:%Y-%m-%d %H:%M %Z}"
    )
