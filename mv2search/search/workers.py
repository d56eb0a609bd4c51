"""Several workers on one study from one command (`workers=N`, default `auto`).

`auto` is one worker per core this process may use (`os.sched_getaffinity`), each with one
torch thread: on these 2-core machines two torch threads in one process slow down 4-5x as soon
as another process holds a core, while one thread per process and one process per core keep
both cores busy. `workers=1` runs the search in this process alone, with the threads the
environment gives it.

The other workers are processes started with `spawn` (a fresh interpreter each), every one a
`SearchWorker` on the same study: the store's claims keep them from evaluating a spec twice and
the study's lock from starting more than `n_trials`. This process runs one worker itself (with
the progress bar), then waits for the others. Ctrl-C reaches every worker of a terminal's
process group; each marks its running trial "worker died", as a single worker does. For many
machines, start workers with Hydra's launchers instead (README, "Many machines").
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import sys
import time
import warnings

import optuna
import torch

from mv2search.search.runner import SearchOutcome, SearchWorker
from mv2search.search.settings import SearchAppConfig

__all__ = ["resolve_workers", "run_search"]


def resolve_workers(value: str | int) -> int:
    """The number of workers of `workers=` (`auto`: the cores this process may use).

    Raises:
        ValueError: naming `workers` for anything but `auto` or a positive integer.
    """
    text = str(value).strip().lower()
    if text == "auto":
        return max(1, len(os.sched_getaffinity(0)))
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"workers: {value!r}; allowed: auto or an integer >= 1")
    return int(text)


def run_search(cfg: SearchAppConfig, progress: bool | None = None) -> SearchOutcome:
    """Run the search of `cfg` with `cfg.workers` workers (see the module docstring).

    Args:
        cfg: The composed config.
        progress: Show a bar over trials (None: only on a terminal).

    Returns:
        This process's worker's outcome, once every worker has stopped; `evaluated` counts the
        trials all of them evaluated.

    Raises:
        ValueError: for bad input (see `SearchWorker`), before any worker starts.
        RuntimeError: when another worker ended with an error (its trials are retried by the
            ones left, so the study is complete all the same; the message says which).
    """
    n = resolve_workers(cfg.workers)
    one = dataclasses.replace(cfg, workers="1")
    if n == 1:
        return SearchWorker(one).run(progress)
    os.environ["OMP_NUM_THREADS"] = "1"  # inherited by the spawned workers
    torch.set_num_threads(1)
    worker = SearchWorker(one)  # checks the input and creates the study before any process
    context = multiprocessing.get_context("spawn")
    others = [context.Process(target=_work, args=(one,), daemon=False) for _ in range(n - 1)]
    start = time.monotonic()
    for process in others:
        process.start()
    try:
        outcome = worker.run(progress)
    finally:
        _stop(others, wait_s=None if sys.exc_info()[0] is None else 30.0)
    pids = {os.getpid(), *(p.pid for p in others)}
    evaluated = sum(r.pid in pids and r.state != "RUNNING" for r in worker.store.records())
    failed = [p for p in others if p.exitcode not in (0, None)]
    if failed:
        codes = ", ".join(f"pid {p.pid}: {p.exitcode}" for p in failed)
        raise RuntimeError(f"{len(failed)} of {n} workers ended with an error ({codes})")
    wall_s = time.monotonic() - start
    return dataclasses.replace(outcome, evaluated=evaluated, workers=n, wall_s=wall_s)


def _work(cfg: SearchAppConfig) -> None:
    """One spawned worker: one torch thread, no progress bar, quiet on Ctrl-C (and as quiet as
    this process about Optuna's info lines and torch's sparse-tensor warning)."""
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", message="Sparse invariant checks", category=UserWarning)
    try:
        SearchWorker(cfg).run(progress=False)
    except KeyboardInterrupt:  # the parent reports it; the store has marked the trial
        sys.exit(130)


def _stop(processes: list, wait_s: float | None) -> None:
    """Wait for the processes (at most `wait_s` each when stopping early), then end any left."""
    for process in processes:
        process.join(wait_s)
    for process in processes:
        if process.is_alive():
            process.terminate()
            process.join(5.0)
