"""A search worker for the study-store tests, run as a separate process.

Usage: `python _store_worker.py URL NAME MODE WORKER [HEARTBEAT_S]`. MODE `all` claims and
completes every one of the 30 specs of `SPECS` (worker `k` walks them from a different start),
printing one JSON line with the signatures it completed; MODE `hang` claims the first spec, prints
`CLAIMED <signature>` and sleeps (the test kills it).
"""

from __future__ import annotations

import json
import sys
import time

from mv2search.search.space import load_space
from mv2search.study.objectives import Objective, Objectives
from mv2search.study.store import StudySettings, StudyStore

OBJECTIVES = Objectives([Objective("accuracy", "max"), Objective("macs", "min")], [0.0, 1.0e9])
SETTINGS = StudySettings(objectives=OBJECTIVES, space={"name": "mv2"}, optimizer="random", seed=0)
N_SPECS = 30


def specs() -> list:
    """30 distinct specs sampled from `mv2` (seed 0, duplicates dropped)."""
    space = load_space("mv2")
    seen: dict[str, object] = {}
    for spec in space.sample(4 * N_SPECS, seed=0):
        seen.setdefault(spec.signature, spec)
    return list(seen.values())[:N_SPECS]


def open_store(
    url: str | None,
    name: str,
    heartbeat_s: float = 10.0,
    settings: StudySettings = SETTINGS,
    **kwargs: object,
) -> StudyStore:
    """The store every test process opens the same way."""
    space = load_space("mv2")
    return StudyStore.open(
        name,
        url,
        settings=settings,
        x_names=space.names,
        x_bounds=space.bounds.tolist(),
        heartbeat_s=heartbeat_s,
        **kwargs,
    )


def main(url: str, name: str, mode: str, worker: int, heartbeat_s: float = 1.0) -> None:
    """Run one worker (see the module docstring)."""
    store = open_store(url, name, heartbeat_s)
    space = load_space("mv2")
    todo = specs()
    if mode == "hang":
        handle = store.claim(todo[0], space.encode(todo[0]), seed=0)
        print("CLAIMED", handle.signature if handle else None, flush=True)
        time.sleep(600)
        return
    start = (worker * 7) % len(todo)
    done = []
    for spec in todo[start:] + todo[:start]:
        handle = store.claim(spec, space.encode(spec), seed=worker)
        if handle is None:
            continue
        time.sleep(0.01)  # an evaluation
        store.complete(handle, {"accuracy": 0.5, "macs": 1.0e6}, [0.5, 1.0e6])
        done.append(spec.signature)
    print(json.dumps(done), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), *map(float, sys.argv[5:]))
