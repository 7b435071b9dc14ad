"""The one ordered process pool: chunks of work fanned out over processes, results back in input order.

``convert``, ``stats``, ``draw``, ``crop``, ``split`` (through ``engine.pipeline``) and ``validate`` all run here,
so that they share one policy: work is cut into chunks (a few per process, so a slow chunk does not hold the
others up), small jobs stay in the calling process (starting processes costs more than it saves), workers get
their shared state once (fork where there is fork), Ctrl-C is the parent's to handle (workers ignore it and the
parent cancels what is queued), and the output is the same whatever the number of processes.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

Result = TypeVar("Result")

# State a worker needs; set before the pool forks (or passed to the initializer under spawn).
STATE: dict[str, Any] = {}


def default_jobs() -> int:
    """The cores this process may run on (a container's CPU set, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def chunks(total: int, jobs: int, smallest: int = 16, largest: int = 500) -> list[tuple[int, int]]:
    """``[start, stop)`` bounds cutting ``total`` items into about sixteen chunks per process: the last chunks
    of a run leave a core idle while the other finishes, so they are kept short (a chunk costs ~1 ms)."""
    size = max(smallest, min(largest, total // (jobs * 16) or 1))
    return [(s, min(s + size, total)) for s in range(0, total, size)]


def _init_worker(state: dict[str, Any]) -> None:
    """A worker leaves Ctrl-C to the parent, which stops the pool and cleans up; a worker killed with SIGTERM
    just dies."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    STATE.update(state)


def side_pool(jobs: int) -> ProcessPoolExecutor | None:
    """A pool of ``jobs`` processes for work a reader does beside its own reading (COCO: pieces of a big file
    decoded while the next is read), with the engine's signal policy; None where it would not help or is not
    allowed: one core, no fork, or already inside a worker."""
    if (
        jobs < 2
        or "fork" not in multiprocessing.get_all_start_methods()
        or multiprocessing.current_process().daemon
        or multiprocessing.parent_process() is not None
    ):
        return None
    return ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_init_worker,
        initargs=({},),
    )


def ordered_map(
    work: Callable[[tuple[int, int]], Result],
    total: int,
    state: dict[str, Any],
    jobs: int = 0,
    serial_below: int = 600,
    progress: Callable[[int], None] | None = None,
    bounds: Sequence[tuple[int, int]] | None = None,
) -> Iterator[Result]:
    """``work(bounds)`` for every chunk of ``range(total)``, yielded in order. ``work`` must be a module-level
    function (it is pickled by name) that reads what it needs from ``STATE``, which holds ``state`` while the
    map runs. Fewer than ``serial_below`` items, or one job, run in this process."""
    jobs = jobs or default_jobs()
    cut = list(bounds) if bounds is not None else chunks(total, jobs)
    if jobs == 1 or total < serial_below:
        STATE.update(state)
        try:
            for piece in cut:
                result = work(piece)
                if progress:
                    progress(piece[1] - piece[0])
                yield result
        finally:
            STATE.clear()
        return
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    STATE.update(state)  # forked workers inherit it; under spawn the initializer sets it
    # what the workers inherit (the plan: a unit per image) is left out of their cycle collections, which
    # would walk it again and again, and copy every page of it that they touch
    gc.freeze()
    try:
        with ProcessPoolExecutor(
            max_workers=jobs,
            mp_context=multiprocessing.get_context(method),
            initializer=_init_worker,
            initargs=(state,),
        ) as pool:
            try:
                for piece, result in zip(cut, pool.map(work, cut)):
                    if progress:
                        progress(piece[1] - piece[0])
                    yield result
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    finally:
        gc.unfreeze()
        STATE.clear()
