"""The ``tcomp`` command line: demo, fit, predict, info.

Errors in arguments or files print one line, ``tcomp: error: ...``, and exit with status 2
(usage errors) or 1 (everything else); never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["main"]


class CLIError(Exception):
    """An error to report to the user in one line."""


def _int_list(text: str) -> tuple[int, ...] | int:
    try:
        parts = [int(p) for p in text.split(",") if p.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected an int or comma-separated ints; got {text!r}"
        ) from exc
    if not parts:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return parts[0] if len(parts) == 1 else tuple(parts)


def _shape(text: str) -> tuple[int, ...]:
    value = _int_list(text)
    return (value,) if isinstance(value, int) else value


# ---------------------------------------------------------------------- demo
def run_demo(args: argparse.Namespace) -> None:
    """Complete a photo with 90% of its pixels removed, with TR under GD and under DAS."""
    from skimage.io import imsave

    from .datasets import ket_augment, ket_restore, load_image, make_mask
    from .estimator import TensorCompletion
    from .metrics import psnr, r2

    size = args.size
    if size < 4 or size & (size - 1):
        raise CLIError(f"--size must be a power of two >= 4; got {size}")
    image = load_image(args.image, size=size, square=True).tensor
    observed = make_mask(image.shape, args.missing, pattern="fibers", random_state=args.seed)
    missing = ~observed
    tensor = ket_augment(np.where(observed, image, np.nan))
    pixel_modes = tuple(range(tensor.ndim - 1))
    print(
        f"tcomp demo: {args.image} {size}x{size}, {args.missing:.0%} of the pixels removed; "
        f"tensor ring rank {args.rank} on the ket-augmented tensor of shape {tensor.shape}"
    )
    print(
        f"{'solver':<8}{'held-out PSNR (dB)':>20}{'held-out R^2':>15}{'iterations':>12}"
        f"{'seconds':>10}"
    )
    panels = [image, np.where(observed, image, 1.0)]
    for solver in ("gd", "das"):
        est = TensorCompletion(
            format="tr",
            rank=args.rank,
            solver=solver,
            lr=args.lr,
            alpha=args.alpha,
            n_iter=args.n_iter,
            patience=args.patience,
            validation_groups=pixel_modes,
            random_state=args.seed,
            verbose=args.verbose,
        )
        start = time.perf_counter()
        est.fit(tensor)
        seconds = time.perf_counter() - start
        completed = np.clip(ket_restore(est.complete()), 0.0, 1.0)
        completed = np.where(observed, image, completed)
        print(
            f"{solver:<8}{psnr(image[missing], completed[missing], 1.0):>20.2f}"
            f"{r2(image[missing], completed[missing]):>15.4f}{est.n_iter_:>12d}"
            f"{seconds:>10.1f}",
            flush=True,
        )
        panels.append(completed)
    gap = np.ones((size, max(2, size // 32), 3))
    strip = np.concatenate([p for panel in panels for p in (panel, gap)][:-1], axis=1)
    imsave(args.output, (strip * 255).round().astype(np.uint8), check_contrast=False)
    print(
        f"wrote {args.output}: original | observed (missing in white) | GD | DAS "
        "(observed pixels kept, held-out metrics on the removed pixels)"
    )


# ---------------------------------------------------------------------- fit
def _read_observed(path: Path, shape: tuple[int, ...] | None) -> Any:
    from .io import load
    from .observed import ObservedTensor

    if not path.exists():
        raise CLIError(f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5"):
        obj = load(path)
        if not isinstance(obj, ObservedTensor):
            raise CLIError(f"{path} holds a {type(obj).__name__}, not observed entries")
        return obj
    if suffix == ".npy":
        array = np.load(path, allow_pickle=False)
        return ObservedTensor.from_dense(array)
    if suffix == ".csv":
        table = _read_csv(path)
        if table.shape[1] < 2:
            raise CLIError(f"{path}: a CSV needs index columns and a value column")
        idx = table[:, :-1]
        if not np.all(idx == np.round(idx)):
            raise CLIError(f"{path}: index columns must hold integers")
        idx = idx.astype(np.int64)
        shape = shape or tuple(int(m) + 1 for m in idx.max(axis=0))
        return ObservedTensor(idx, table[:, -1], shape)
    raise CLIError(f"{path}: unsupported input (use .h5 from tcomp.io, .npy with NaN, or .csv)")


def _read_csv(path: Path) -> np.ndarray:
    with open(path) as f:
        first = f.readline()
    skip = 1 if any(c.isalpha() for c in first.replace("e", "").replace("E", "")) else 0
    try:
        table = np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2)
    except ValueError as exc:
        raise CLIError(f"{path}: not a numeric CSV ({exc})") from exc
    if table.size == 0:
        raise CLIError(f"{path}: no rows")
    return table


def run_fit(args: argparse.Namespace) -> None:
    from .estimator import TensorCompletion
    from .io import save

    observed = _read_observed(Path(args.input), args.shape)
    est = TensorCompletion(
        format=args.format,
        rank=args.rank,
        solver=args.solver,
        optimizer=args.optimizer,
        lr=args.lr,
        rho=args.rho,
        alpha=args.alpha,
        weight_decay=args.weight_decay,
        n_iter=args.n_iter,
        early_stopping=not args.no_early_stopping,
        validation_fraction=args.validation_fraction,
        random_state=args.seed,
        verbose=not args.quiet,
    )
    start = time.perf_counter()
    est.fit(observed)
    save(est, args.output)
    h = est.history_
    val = f", validation R^2 {h['val_r2'][-1]:.4f}" if "val_r2" in h else ""
    print(
        f"fitted {args.format} rank {est.model_.rank} on {observed.n_observed} entries in "
        f"{time.perf_counter() - start:.1f} s ({est.n_iter_} iterations{val}); "
        f"{est.result_.message}; saved {args.output}"
    )


# ---------------------------------------------------------------------- predict / info
def run_predict(args: argparse.Namespace) -> None:
    from .estimator import TensorCompletion
    from .io import load

    est = load(args.model)
    if not isinstance(est, TensorCompletion):
        raise CLIError(f"{args.model} holds a {type(est).__name__}, not a fitted estimator")
    path = Path(args.indices)
    if not path.exists():
        raise CLIError(f"no such file: {path}")
    if path.suffix.lower() == ".npy":
        idx = np.load(path, allow_pickle=False)
    else:
        idx = _read_csv(path)
        if not np.all(idx == np.round(idx)):
            raise CLIError(f"{path}: indices must be integers")
    idx = np.asarray(idx).astype(np.int64)
    values = est.predict(idx)
    out = sys.stdout if args.output is None else open(args.output, "w")
    try:
        for row, value in zip(idx, values):
            out.write(",".join(map(str, row)) + f",{float(value)!r}\n")
    finally:
        if out is not sys.stdout:
            out.close()


def run_info(args: argparse.Namespace) -> None:
    from .io import read_info

    for key, value in read_info(args.file).items():
        print(f"{key}: {value}")


# ---------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tcomp", description="Tensor completion with CP, Tucker, TT and TR models."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="complete a photo with 90%% of its pixels removed")
    demo.add_argument("--image", default="astronaut")
    demo.add_argument("--size", type=int, default=256, help="side in pixels (power of two)")
    demo.add_argument("--missing", type=float, default=0.9)
    demo.add_argument("--rank", type=int, default=8)
    demo.add_argument("--lr", type=float, default=0.01)
    demo.add_argument("--alpha", type=float, default=0.05)
    demo.add_argument("--n-iter", type=int, default=2000)
    demo.add_argument("--patience", type=int, default=300)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--output", default="tcomp_demo.png")
    demo.add_argument("--verbose", action="store_true", help="progress bars")
    demo.set_defaults(run=run_demo)

    fit = sub.add_parser("fit", help="fit a model to observed entries")
    fit.add_argument("input", help=".h5 (tcomp.io), .npy (NaN = missing) or .csv (indices, value)")
    fit.add_argument("--format", default="tr", choices=["cp", "tucker", "tt", "tr"])
    fit.add_argument("--rank", type=_int_list, default=5)
    fit.add_argument("--solver", default="das", choices=["gd", "sam", "das"])
    fit.add_argument("--optimizer", default="adam", choices=["sgd", "adam"])
    fit.add_argument("--lr", type=float, default=0.01)
    fit.add_argument("--rho", type=float, default=0.05)
    fit.add_argument("--alpha", type=float, default=0.05)
    fit.add_argument("--weight-decay", type=float, default=0.0, help="L2 penalty on the cores")
    fit.add_argument("--n-iter", type=int, default=5000)
    fit.add_argument("--validation-fraction", type=float, default=0.1)
    fit.add_argument("--no-early-stopping", action="store_true")
    fit.add_argument("--shape", type=_shape, default=None, help="e.g. 30,40,50 (CSV input)")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--quiet", action="store_true", help="no progress bar")
    fit.add_argument("--output", required=True, help="MODEL.h5")
    fit.set_defaults(run=run_fit)

    pred = sub.add_parser("predict", help="predict entries with a fitted model")
    pred.add_argument("model", help="MODEL.h5 written by tcomp fit")
    pred.add_argument("indices", help=".npy or .csv of integer indices, one entry per row")
    pred.add_argument("--output", default=None, help="CSV file (default: standard output)")
    pred.set_defaults(run=run_predict)

    info = sub.add_parser("info", help="describe a tcomp HDF5 file")
    info.add_argument("file")
    info.set_defaults(run=run_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tcomp`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (CLIError, ValueError, TypeError, OSError, KeyError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"tcomp: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tcomp: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
