"""Where sweep stacks run: inline, in a local spawn process pool whose workers die with their parent, or on a Dask
cluster.

Pool workers ignore SIGINT: a Ctrl-C in a terminal reaches every process of the group, and the parent alone
handles it, terminating its workers (no worker prints a traceback). Pool workers must not outlive the process that
started them: a killed sweep (``kill -9``, a closed terminal)
would otherwise leave workers training stacks nobody will read. Each worker therefore asks Linux to send it
SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``), and, on any platform, a daemon thread polls its
parent's pid once a second and exits when the parent is gone.

A Dask scheduler address must be **trusted**: the results of remote work come back through Dask's
serialisation (pickle), so a hostile scheduler or worker could run code in this process.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import ctypes
import multiprocessing
import os
import re
import signal
import threading
import time

import torch

from .._checks import MAX_WORKERS, ArgumentTypeError, check_int

__all__ = ["InlineExecutor", "make_executor", "check_dask_address", "DASK_ADDRESS", "PARENT_POLL_SECONDS"]

PARENT_POLL_SECONDS = 1.0
PR_SET_PDEATHSIG = 1  # linux/prctl.h
DASK_ADDRESS = re.compile(r"^(tcp|tls|ucx|ws|wss|inproc)://\S+$|^[A-Za-z0-9_.\-\[\]]+:\d{1,5}$")


class InlineExecutor(cf.Executor):
    """An ``Executor`` that runs each call immediately in this process (no pool, no pickling)."""

    def submit(self, fn, /, *args, **kwargs) -> cf.Future:
        fut: cf.Future = cf.Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as err:  # delivered through the future, as a pool would
            fut.set_exception(err)
        return fut


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(PARENT_POLL_SECONDS)
        if os.getppid() != parent_pid:  # re-parented: the parent died
            os._exit(1)


def die_with_parent(parent_pid: int) -> None:
    """Make this process exit when ``parent_pid`` (its parent) dies: PR_SET_PDEATHSIG on Linux, plus a polling
    daemon thread everywhere. Exits at once if the parent is already gone."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="watch-parent", daemon=True).start()


def _init_worker(parent_pid: int) -> None:
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent stops the pool
    torch.set_num_threads(1)


def _stop_workers(pool: cf.ProcessPoolExecutor) -> None:
    """Terminate the pool's worker processes: the sweep is over (Ctrl-C or an error), nobody will read their stacks."""
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            proc.terminate()


def check_dask_address(address) -> str:
    """Return ``address`` if it looks like a Dask scheduler address (``tcp://HOST:PORT``, ``HOST:PORT``, ...)."""
    if not isinstance(address, str):
        raise ArgumentTypeError(f"dask must be a scheduler address string, got {type(address).__name__}")
    if not DASK_ADDRESS.match(address.strip()):
        raise ValueError(f"dask must be a scheduler address such as tcp://10.0.0.5:8786, got {address!r}")
    return address.strip()


@contextlib.contextmanager
def make_executor(workers: int | None = None, dask: str | None = None, *, dask_timeout: float = 30.0):
    """Yield an Executor: a Dask client's executor if ``dask`` (a trusted scheduler address) is given, else a spawn
    process pool of ``workers`` processes (default: CPU count) whose workers die with this process, or
    :class:`InlineExecutor` for ``workers=1``. An unreachable scheduler raises ``ValueError`` naming it."""
    if dask:
        address = check_dask_address(dask)
        from distributed import Client  # optional (the `cluster` extra): imported only when a cluster is asked for

        try:
            client = Client(address, timeout=dask_timeout)
        except (OSError, TimeoutError) as err:
            raise ValueError(f"dask: cannot reach the scheduler at {address!r} ({err})") from None
        try:
            yield client.get_executor()
        finally:
            client.close()
        return
    workers = (os.cpu_count() or 1) if workers is None else check_int("workers", workers, 1, MAX_WORKERS)
    if workers == 1:
        yield InlineExecutor()
        return
    pool = cf.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(os.getpid(),),
    )
    try:
        yield pool
    except BaseException:
        _stop_workers(pool)  # workers ignore Ctrl-C (no tracebacks of theirs); the parent ends them here
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
