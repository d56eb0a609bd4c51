"""The real reduced search of `bench_fidelity_search.py --pool N`: a table of trained runs.

Training every candidate of every method and seed again would cost hours per method here, so
the search runs over a pool of specs trained once, and each method looks their results up (the
way tabular benchmarks such as NAS-Bench-201 or Syne Tune's blackbox repository replay real
training). The pool is the first N specs that `bench_fidelity.py --specs N` draws (seeded) from
the `mv2` space within 0.5 GMACs, each trained on 10,000 embedded images by seed 0:

- along the `wsd` ladder (31, 62, 125, 250 steps, each rung scored on 1,000 validation images
  after its decay branch): a rung's top-1 and its measured CPU-seconds (train, decay branches,
  scoring; cumulative, one thread), so a promotion from rung k-1 to k costs what it added;
- with the old proxy (`trainer=search`: 62 steps on 2,000 images): its top-1 and CPU-seconds.

Build the pool first:

    python benchmarks/bench_fidelity.py --specs 48 --only s00 ... s47 --ladders wsd old_proxy \
        --seeds 0 --out runs/benchmarks/bench_fidelity_pool

A method proposes in the `mv2` encoding, restricted to the pool (`PoolSpace`): its random
design draws members, and the acquisition is maximised over the members not yet taken. A run
straight to the top rung (single fidelity at the top) would not pay the lower rungs' decay
branches and scorings that the ladder's run did: its cost is fitted per spec, `(steps + decay) x
c + e` per rung increment by least squares (`c` a step, `e` a scoring), as `(250 + 50) c + e`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mv2search.search.problems import Problem
from mv2search.search.space import load_space
from mv2search.study.objectives import Objective, Objectives, exact_metrics

# own units: top-1 below every top-rung score of the pool, and 1.1 x the 0.5 GMACs budget
REFERENCE_POINT = (0.5, 0.55)


@dataclass(frozen=True)
class Member:
    """One trained spec of the pool."""

    name: str
    x: torch.Tensor  # its `mv2` encoding
    gmacs: float
    top1: tuple[float, ...]  # at each rung of the ladder
    cum_s: tuple[float, ...]  # CPU-seconds to each rung (cumulative)
    top_only_s: float  # fitted CPU-seconds of one run straight to the top rung
    proxy_top1: float  # the old proxy's
    proxy_s: float


class PoolSpace:
    """The `mv2` space restricted to `members` (`k x d` encodings): samples are members (in a
    seeded order), and snapping goes to the nearest member (in the unit cube)."""

    def __init__(self, space: Any, members: torch.Tensor) -> None:
        self.space, self.members = space, members.double()
        self.dim, self.bounds, self.parameters = space.dim, space.bounds, space.parameters

    def decode(self, x: torch.Tensor) -> Any:
        return self.space.decode(x)

    def sample_encoded(self, n: int, seed: int | None = None) -> torch.Tensor:
        """The first `n` members (all of them when `n` is larger) in an order set by `seed`."""
        order = torch.randperm(
            len(self.members), generator=torch.Generator().manual_seed(seed or 0)
        )
        return self.members[order[:n]].clone()

    def snap(self, x: torch.Tensor) -> torch.Tensor:
        """The nearest member of each row of `x` (`... x d`)."""
        low, high = self.bounds
        unit = (x.double().reshape(-1, self.dim) - low) / (high - low)
        members = (self.members - low) / (high - low)
        nearest = torch.cdist(unit, members).argmin(dim=-1)
        return self.members[nearest].reshape(x.shape)


def top_only_cost(rows: list[dict[str, Any]]) -> float:
    """CPU-seconds of a run straight to the last rung of `rows` (the ladder's scored history
    rows: `step`, `decay_steps`, cumulative `wall_s`): `c` per step and `e` per scoring fitted
    on the rung increments, then `(last step + its decay) c + e`."""
    steps = [0] + [r["step"] for r in rows]
    walls = [0.0] + [r["wall_s"] for r in rows]
    A = np.array([[steps[k + 1] - steps[k] + r["decay_steps"], 1.0] for k, r in enumerate(rows)])
    b = np.diff(walls)
    (c, e), *_ = np.linalg.lstsq(A, b, rcond=None)
    c, e = (float(b.sum() / A[:, 0].sum()), 0.0) if e < 0 or c <= 0 else (float(c), float(e))
    return (rows[-1]["step"] + rows[-1]["decay_steps"]) * c + e


def load_pool(n_specs: int, runs_dir: Path = Path("runs")) -> list[Member]:
    """The pool's members whose `wsd` run (seed 0) reached the top rung and whose old-proxy run
    finished; raises SystemExit naming the command when fewer than 8 did."""
    import bench_fidelity as fidelity  # benchmarks/, on the path of a script run from it

    args = fidelity.parse_args(["--specs", str(n_specs), "--runs-dir", str(runs_dir)])
    fidelity._init(vars(args))
    space, rungs = load_space("mv2"), tuple(args.rungs)
    members = []
    for name, spec in fidelity.draw_specs(n_specs):
        if not name.startswith("s"):  # the presets are not in the space
            continue
        done = [
            fidelity._top_run(ladder, 0, spec, str(runs_dir))[1] / "result.json"
            for ladder in ("wsd", "old_proxy")
        ]
        if not all(path.is_file() for path in done):
            continue
        ladder, proxy = (json.loads(path.read_text()) for path in done)
        by_step = {r["step"]: r for r in ladder["history"] if "decay_steps" in r}
        if not all(s in by_step for s in rungs):
            continue
        rows = [by_step[s] for s in rungs]
        members.append(
            Member(
                name,
                space.encode(spec),
                exact_metrics(spec, ("gmacs",))["gmacs"],
                tuple(float(r["top1"]) for r in rows),
                tuple(float(r["wall_s"]) for r in rows),
                top_only_cost(rows),
                float(proxy["history"][-1]["top1"]),
                float(proxy["history"][-1]["wall_s"]),
            )
        )
    if len(members) < 8:
        raise SystemExit(
            f"--pool {n_specs}: {len(members)} specs have finished runs under {runs_dir}/train "
            "(at least 8 needed); build the pool with the command in benchmarks/fidelity_pool.py"
        )
    return members


class PoolTask:
    """Scores and costs of jobs on the pool (see `bench_fidelity_search.Task`)."""

    def __init__(self, members: list[Member], n_rungs: int) -> None:
        if any(len(m.top1) != n_rungs for m in members):
            raise ValueError(f"the pool's ladder must have {n_rungs} rungs")
        self.members = members
        X = torch.stack([m.x for m in members]).double()
        self.space = PoolSpace(load_space("mv2"), X)
        self._by_key = {_key(m.x): m for m in members}
        objectives = Objectives(
            [Objective("accuracy", "max"), Objective("gmacs", "min")], REFERENCE_POINT
        )
        top = torch.tensor([[m.top1[-1], m.gmacs] for m in members], dtype=torch.float64)
        self.problem = Problem(
            f"mv2_pool{len(members)}",
            self.space,
            objectives,
            self._evaluate,
            None,
            objectives.hypervolume(top),  # every member at the top rung
            {"members": [m.name for m in members]},
            None,
            ("accuracy",),
        )

    def member(self, x: torch.Tensor) -> Member:
        return self._by_key[_key(self.space.snap(x))]

    def score(self, x: torch.Tensor, rung: int, proxy: bool = False) -> dict[str, float]:
        m = self.member(x)
        return {"accuracy": m.proxy_top1 if proxy else m.top1[rung], "gmacs": m.gmacs}

    def cost(self, x: torch.Tensor, rung: int, start: int | None, proxy: bool = False) -> float:
        """CPU-seconds of training `x` to `rung`, continuing from rung `start` (None: anew)."""
        m = self.member(x)
        if proxy:
            return m.proxy_s
        if start is None:
            return m.top_only_s if rung == len(m.top1) - 1 else m.cum_s[rung]
        return m.cum_s[rung] - m.cum_s[start]

    def _evaluate(self, x: torch.Tensor, s: float = 1.0) -> dict[str, float]:
        return self.score(x, len(self.member(x).top1) - 1)


def _key(x: torch.Tensor) -> tuple[float, ...]:
    return tuple(round(float(v), 9) for v in x.reshape(-1).tolist())
