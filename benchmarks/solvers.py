"""Time per step of GD, SAM and DAS for every format, as ratios to GD.

Each step is what the fit loop does: zero the gradients, masked loss on the training entries,
backward, optimizer step (SAM: two loss + backward passes). The solvers are interleaved
within every repeat (GD, SAM, DAS, GD, SAM, DAS, ...) so machine noise hits them alike; the
table reports the median seconds per step and the ratio of medians to GD.

Usage: ``python benchmarks/solvers.py [--quick] [--threads N]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from tcomp import ObservedTensor
from tcomp.formats import FORMATS
from tcomp.kernels import masked_loss
from tcomp.optim import SAM, make_optimizer

RANKS = {"cp": 10, "tucker": 6, "tt": 6, "tr": 5}
PROBLEMS = [((100, 100, 100), 10_000), ((300, 300, 300), 200_000)]


def make_stepper(fmt: str, shape: tuple, obs: ObservedTensor, solver: str):
    model = FORMATS[fmt].random(shape, RANKS[fmt], random_state=0)
    opt = make_optimizer(model.cores, solver, "adam", lr=1e-3, rho=0.05, alpha=0.05)

    def closure():
        opt.zero_grad(set_to_none=True)
        loss = masked_loss(model, obs)
        loss.backward()
        return loss

    if isinstance(opt, SAM):
        return lambda: opt.step(closure)

    def step():
        closure()
        opt.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    repeats, block = (3, 3) if args.quick else (15, 10)
    problems = PROBLEMS[:1] if args.quick else PROBLEMS
    print(
        f"# seconds per step (median of {repeats} interleaved blocks of {block} steps), "
        f"Adam base, float32, {args.threads} thread(s)"
    )
    print("| format | shape | n_obs | GD s | SAM s | DAS s | SAM/GD | DAS/GD |")
    print("|---|---|---|---|---|---|---|---|")
    for fmt in RANKS:
        for shape, n_obs in problems:
            rng = np.random.RandomState(0)
            idx = np.stack([rng.randint(0, s, n_obs) for s in shape], axis=1)
            obs = ObservedTensor(
                idx, rng.standard_normal(n_obs).astype(np.float32), shape, duplicates="mean"
            )
            steppers = {s: make_stepper(fmt, shape, obs, s) for s in ("gd", "sam", "das")}
            for step in steppers.values():  # warm-up
                step()
            times: dict[str, list[float]] = {s: [] for s in steppers}
            for _ in range(repeats):
                for name, step in steppers.items():
                    start = time.perf_counter()
                    for _ in range(block):
                        step()
                    times[name].append((time.perf_counter() - start) / block)
            med = {k: float(np.median(v)) for k, v in times.items()}
            print(
                f"| {fmt} | {'x'.join(map(str, shape))} | {n_obs} | {med['gd']:.5f} | "
                f"{med['sam']:.5f} | {med['das']:.5f} | {med['sam'] / med['gd']:.2f} | "
                f"{med['das'] / med['gd']:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
