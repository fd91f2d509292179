"""Benchmark the masked-loss kernels: loss + gradient per step, and peak memory.

For each format, on a (200, 200, 200) tensor and on a (2000, 2000, 2000) tensor (32 GB in
float32: too large to build densely here), at n_obs in {1e4, 1e5, 1e6}, it times one
loss + backward with

* ``sparse``   tcomp's gather path (``path="sparse"``)
* ``dense``    tcomp's dense path (``path="dense"``: full tensor, read at the observed entries)
* ``tensorly`` tensorly's own reconstruction under the pytorch backend, times a 0/1 mask
  (what the paper's reference code does)

Each measurement runs in its own subprocess. Peak memory is the largest resident set size
sampled every millisecond by a background thread during the timed steps, minus the resident
size just before them (large torch buffers are mmapped, so freed memory leaves the RSS).
Times are medians over repeats; compare ratios within one run (the machine is shared).

Usage: ``python benchmarks/kernels.py [--quick] [--threads N]``
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import threading
import time

RANKS = {"cp": 10, "tucker": 6, "tt": 6, "tr": 5}
SMALL, LARGE = (200, 200, 200), (2000, 2000, 2000)


def measure(fmt: str, shape: tuple, n_obs: int, method: str, repeats: int, threads: int) -> dict:
    """Run in a child process: time loss + backward, report the peak memory increase."""
    import numpy as np
    import tensorly as tl
    import torch

    from tcomp import ObservedTensor
    from tcomp.formats import FORMATS
    from tcomp.kernels import masked_loss

    torch.set_num_threads(threads)
    model = FORMATS[fmt].random(shape, RANKS[fmt], random_state=0)
    rng = np.random.RandomState(0)
    idx = np.stack([rng.randint(0, s, n_obs) for s in shape], axis=1)
    obs = ObservedTensor(
        idx, rng.standard_normal(n_obs).astype(np.float32), shape, duplicates="mean"
    )
    if method == "tensorly":
        mask = obs.mask().float()
        target = obs.to_dense(0.0)
        to_full = {
            "cp": tl.cp_to_tensor,
            "tucker": tl.tucker_to_tensor,
            "tt": tl.tt_to_tensor,
            "tr": tl.tr_to_tensor,
        }[fmt]
        cores = model.cores

        def step():
            with tl.backend_context("pytorch"):
                if fmt == "cp":
                    full = to_full((None, cores))
                elif fmt == "tucker":
                    full = to_full((cores[0], cores[1:]))
                else:
                    full = to_full(cores)
            loss = ((full - target) * mask).pow(2).sum() / obs.n_observed
            loss.backward()
    else:

        def step():
            masked_loss(model, obs, path=method).backward()

    gc.collect()
    sampler = RssSampler()
    times = []
    with sampler:
        for _ in range(repeats + 1):  # first call is a warm-up
            for c in model.cores:
                c.grad = None
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
    return {"seconds": float(np.median(times[1:])), "peak_mib": sampler.peak_increase_mib}


def current_rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class RssSampler:
    """Samples the resident set size every millisecond in a thread while active."""

    def __enter__(self) -> RssSampler:
        self.baseline = current_rss_bytes()
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, current_rss_bytes())
            time.sleep(0.001)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, current_rss_bytes())

    @property
    def peak_increase_mib(self) -> float:
        return (self.peak - self.baseline) / 2**20


def run_child(args: list[str], threads: int) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--threads", str(threads), "--child", *args],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def format_row(fmt: str, shape: tuple, n_obs: int, res: dict) -> str:
    """One markdown table row; methods absent from ``res`` print as n/a."""
    names = ("sparse", "dense", "tensorly")
    secs = {m: res.get(m, {}).get("seconds") for m in names}
    mib = {m: res.get(m, {}).get("peak_mib") for m in names}

    def ratio(m: str) -> str:
        if secs[m] is None or not secs["sparse"]:
            return "n/a"
        return f"{secs[m] / secs['sparse']:.1f}x"

    from tcomp.formats import FORMATS
    from tcomp.kernels import choose_path

    model = FORMATS[fmt].random(shape, RANKS[fmt], random_state=0)
    cells = [
        fmt,
        str(RANKS[fmt]),
        "x".join(map(str, shape)),
        f"{n_obs:.0e}",
        choose_path(model, n_obs),
    ]
    cells += ["n/a" if secs[m] is None else f"{secs[m]:.4f}" for m in names]
    cells += [ratio("dense"), ratio("tensorly")]
    cells += ["n/a" if mib[m] is None else f"{mib[m]:.0f}" for m in names]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n_obs 1e4 only, 2 repeats")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        fmt, shape, n_obs, method, repeats = args.child
        shape = tuple(int(s) for s in shape.split("x"))
        print(json.dumps(measure(fmt, shape, int(n_obs), method, int(repeats), args.threads)))
        return

    sizes = [10**4] if args.quick else [10**4, 10**5, 10**6]
    repeats = 2 if args.quick else 5
    print(f"# masked loss + gradient, float32, {args.threads} thread(s), median of {repeats}")
    print(
        "| format | rank | shape | n_obs | auto picks | sparse s | dense s | tensorly s "
        "| dense/sparse | tensorly/sparse | sparse MiB | dense MiB | tensorly MiB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for fmt in RANKS:
        for shape in (SMALL, LARGE):
            for n_obs in sizes:
                methods = ["sparse"] + (["dense", "tensorly"] if shape == SMALL else [])
                res = {}
                for m in methods:
                    res[m] = run_child(
                        [fmt, "x".join(map(str, shape)), str(n_obs), m, str(repeats)], args.threads
                    )
                print(format_row(fmt, shape, n_obs, res), flush=True)
                for m in methods:
                    if "error" in res[m]:
                        print(f"<!-- {fmt} {m} failed: {res[m]['error']} -->", flush=True)


if __name__ == "__main__":
    main()
