"""Explicit randomness: named seed streams, entry-point seeding and deterministic mode.

The library never touches global RNG state. Every sampling function takes a ``seed`` and derives an
independent stream for each purpose (``"task"``, ``"init"``, ``"data"``, ``"probe"``), so changing the
initialisation seed can never change the bijections.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import random
from collections.abc import Iterator

import numpy as np
import torch

from ._checks import check_int, check_seed

__all__ = [
    "stream_seed",
    "generator",
    "numpy_rng",
    "seed_everything",
    "set_deterministic",
    "flush_denormals",
    "default_device",
    "torch_threads",
    "reuse_freed_memory",
]


def stream_seed(seed: int, stream: str) -> int:
    """A 63-bit seed derived from ``(seed, stream)`` by SHA-256, so named streams are independent.

    >>> stream_seed(0, "task") == stream_seed(0, "task")
    True
    >>> stream_seed(0, "task") != stream_seed(0, "init")
    True
    """
    check_seed("seed", seed)  # one rule for every entry point: an int in [0, 2^63 - 1]
    if not isinstance(stream, str):
        raise TypeError(f"stream must be a str, got {type(stream).__name__}")
    digest = hashlib.sha256(f"{int(seed)}/{stream}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def generator(seed: int, stream: str, device: str | torch.device = "cpu") -> torch.Generator:
    """A fresh ``torch.Generator`` for one named stream of one seed."""
    g = torch.Generator(device=device)
    g.manual_seed(stream_seed(seed, stream))
    return g


def numpy_rng(seed: int, stream: str) -> np.random.Generator:
    """A fresh ``numpy.random.Generator`` for one named stream of one seed."""
    return np.random.default_rng(stream_seed(seed, stream))


def seed_everything(seed: int = 0) -> None:
    """Seed Python, numpy and torch global state. Call only at entry points (notebooks, CLIs, tests)."""
    check_seed("seed", seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def set_deterministic(enabled: bool = True) -> None:
    """Deterministic algorithms on, TF32 off, cuBLAS workspace pinned (for tests and reference runs)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled, warn_only=True)
    torch.backends.cuda.matmul.allow_tf32 = not enabled
    torch.backends.cudnn.allow_tf32 = not enabled


def default_device(requested: str = "auto") -> torch.device:
    """``"auto"`` picks CUDA when available, else CPU; anything else is passed to ``torch.device``."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={requested!r} was requested but CUDA is not available; use 'cpu' or 'auto'")
    return device


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Temporarily run torch's CPU kernels on ``n`` threads (restored on exit, also after an exception).

    The book's models are tiny: on a busy 2-core machine the thread pool's wake-ups and barriers cost more than
    the work, so explorer redraws, sweep workers and live training run on one thread.
    """
    check_int("n (threads)", n, 1)
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _flushing_denormals() -> bool:
    """True when this thread flushes denormal float32 results to zero (half the smallest normal number gives 0)."""
    return bool((torch.full((1,), 2.0**-126) * 0.5).item() == 0.0)


@contextlib.contextmanager
def flush_denormals() -> Iterator[bool]:
    """Flush denormal floats (|x| < 2^-126 ~ 1.2e-38 in float32) to zero inside the block, through
    ``torch.set_flush_denormal`` (x86 FTZ/DAZ); the previous setting is restored on exit. Yields whether the
    CPU supports it (where it does not, nothing changes).

    Training towards 100% recall drives a tenth of the softmax probabilities below 2^-126 within a few hundred
    steps, and x86 cores compute on such numbers through slow microcode: for nine trained N = 128, R = 2 models
    one stacked gradient took 4.4 ms with them and 3.4 ms flushed (2-core EPYC, one thread). A probability that
    small changes no gradient by more than 1e-38. ``batched.train_batched`` trains inside this block.
    """
    before = _flushing_denormals()
    supported = torch.set_flush_denormal(True)
    try:
        yield supported
    finally:
        torch.set_flush_denormal(before)


def reuse_freed_memory(*, max_block: int = 32 * 2**20, keep: int = 2**30) -> bool:
    """Let glibc's malloc serve blocks up to ``max_block`` bytes from its heap and keep up to ``keep`` bytes of
    freed heap, instead of returning them to the kernel at every ``free``. Process-wide; returns False (and
    changes nothing) where the C library is not glibc.

    Training allocates and frees the same few-megabyte tensors (logits, their gradients) at every step. By
    default glibc hands such blocks back to the kernel, so every step pays for fresh zero-filled pages: for 12
    stacked models of N = 256, R = 4, d = 12, 256 steps took 1.5 M page faults and 5 s of kernel time on a 2-core
    machine, about a third of the wall time (``benchmarks/bench_batched.py``). The sweep workers call this once.
    """
    check_int("max_block", max_block, 1, 32 * 2**20)  # glibc's ceiling for the mmap threshold
    check_int("keep", keep, 1, 2**31 - 1)  # a C int
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
    return bool(mallopt(M_MMAP_THRESHOLD, max_block)) and bool(mallopt(M_TRIM_THRESHOLD, keep))
