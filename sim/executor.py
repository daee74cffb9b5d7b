"""Where many runs execute: a ``concurrent.futures.Executor`` chosen by name (design 2, 16).

``make_executor("local", workers)`` is a process pool on this machine; ``make_executor("dask",
workers, scheduler)`` runs on ``dask.distributed`` (the optional extra ``[cluster]``): a
``LocalCluster`` of ``workers`` single-threaded processes on loopback when no scheduler is
given, or the existing cluster at ``scheduler`` (its workers must see the same results folder).
Callers code against ``Executor`` only (submit, futures), so the sweep and the study never know
which one they were handed.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from typing import Literal

from sim.errors import UserInputError

Backend = Literal["local", "dask"]
BACKENDS: tuple[str, ...] = ("local", "dask")
# Imported once by the fork server, so that each worker forks with them loaded instead of
# importing them again (about 2 s each); later pools of the same process start at once.
PRELOAD = ["sim.run", "sim.model", "sim.scenario"]


def _forkserver() -> mp.context.BaseContext:
    """The forkserver context (the parent may be multi-threaded, pyarrow and tqdm, where a
    plain fork() can deadlock), with the run's modules preloaded."""
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def default_workers() -> int:
    """The machine's cores (``os.cpu_count``), at least 1."""
    return max(os.cpu_count() or 1, 1)


@contextmanager
def make_executor(
    backend: Backend = "local", workers: int | None = None, scheduler: str | None = None
) -> Iterator[Executor]:
    """Yield an Executor for ``backend``; shut it (and a cluster it started) down on exit.

    ``workers``: processes (default: the cores); ignored when joining an existing scheduler,
    whose cluster has its own. A bad choice is a ``UserInputError`` naming the option.
    """
    if backend not in BACKENDS:
        raise UserInputError(f"--backend: unknown {backend!r} (choose from {', '.join(BACKENDS)})")
    if workers is not None and workers < 1:
        raise UserInputError(f"--workers: must be >= 1, got {workers}")
    if backend == "local":
        if scheduler is not None:
            raise UserInputError("--scheduler: only the dask backend joins a scheduler "
                                 "(add --backend dask)")
        with ProcessPoolExecutor(max_workers=workers or default_workers(),
                                 mp_context=_forkserver()) as pool:
            yield pool
        return
    with _dask_executor(workers, scheduler) as pool:
        yield pool


@contextmanager
def _dask_executor(workers: int | None, scheduler: str | None) -> Iterator[Executor]:
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise UserInputError("--backend dask: dask.distributed is not installed "
                             "(pip install 'flywheel-sim[cluster]')") from None
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise UserInputError(f"--scheduler: cannot reach {scheduler} ({exc})") from None
        with client:
            yield client.get_executor(pure=False)   # every submission runs (no result cache)
        return
    # One single-threaded worker process per core: the model holds the GIL, and each run's
    # kernels are single-threaded. Loopback only, no dashboard (it needs bokeh, and a port).
    with LocalCluster(n_workers=workers or default_workers(), threads_per_worker=1,
                      processes=True, host="127.0.0.1", dashboard_address=None) as cluster, \
            Client(cluster) as client:  # fmt: skip
        yield client.get_executor(pure=False)
