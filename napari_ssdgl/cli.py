"""``napari-ssdgl`` command line: ``train`` a model on a cube, ``predict`` a class map with it.

Bad input (missing or unreadable files, shape or band mismatches, unusable labels) ends in one
line ``napari-ssdgl: error: ...`` on stderr and exit status 2, never a traceback.
Hyper-parameter defaults are the paper's Indian Pines 5 % protocol (lr 0.003, power 0.8,
10 pixels per class per iteration, 600 iterations); ``--preset`` defaults to none, i.e. the
model constructor's widths.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

PROG = "napari-ssdgl"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from .training.device import DEVICES

    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model on a cube and labels")
    t.add_argument("cube", help="hyperspectral cube (.mat, ENVI .hdr, .tif, .npy/.npz)")
    t.add_argument("labels", help="label raster: training pixels, or the full ground truth "
                                  "when a --split-* option is given")
    t.add_argument("--out", required=True, help="directory for the model, metrics and prediction")
    split = t.add_mutually_exclusive_group()
    split.add_argument("--split-fraction", type=_fraction, metavar="F",
                       help="train on max(5, ceil(F * count)) pixels per class of LABELS, test on "
                            "the rest")
    split.add_argument("--split-per-class", type=_positive_int, metavar="N",
                       help="train on N pixels per class of LABELS, test on the rest")
    split.add_argument("--test-labels", metavar="PATH", help="test label raster (optional)")
    t.add_argument("--min-per-class", type=_positive_int, default=5,
                   help="minimum training pixels per class for --split-fraction (default 5)")
    t.add_argument("--seed", type=int, default=2333)
    t.add_argument("--iterations", type=_positive_int, default=600)
    t.add_argument("--model", choices=("ssdgl", "freenet"), default="ssdgl")
    t.add_argument("--preset", default=None,
                   help="named widths/kernels (indian_pines, few_samples, pavia_university, ...); "
                        "default: the model's own defaults")
    t.add_argument("--lr", type=float, default=0.003)
    t.add_argument("--power", type=float, default=0.8, help="poly LR decay power")
    t.add_argument("--per-class", type=int, default=10,
                   help="pixels drawn per class and iteration; 0 = all (default 10)")
    t.add_argument("--eval-every", type=int, default=25)
    t.add_argument("--keep", choices=("last", "best"), default="last",
                   help="model to save: the last one (default; its test score is unbiased) or "
                        "the one with the best test OA (an optimistic score)")
    t.add_argument("--device", choices=DEVICES, default="auto")
    t.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")
    t.add_argument("--quiet", action="store_true", help="no progress bar or summary")

    p = sub.add_parser("predict", help="predict a class map with a trained model")
    p.add_argument("model_dir", help="directory written by 'napari-ssdgl train'")
    p.add_argument("cube")
    p.add_argument("--out", required=True, help="class map file (.npy, .tif or ENVI .hdr)")
    p.add_argument("--tile-size", type=_positive_int, default=None,
                   help="predict in overlapping tiles of this size (bounded memory)")
    p.add_argument("--overlap", type=int, default=64)
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--quiet", action="store_true")
    return parser


class CLIError(ValueError):
    """A user-facing error found by the CLI itself."""


def _existing(path: str) -> str:
    if not Path(path).exists():
        raise CLIError(f"{path}: file not found")
    return path


def _warn(message: str, quiet: bool) -> None:
    if not quiet:
        print(f"{PROG}: warning: {message}", file=sys.stderr)


@contextmanager
def _ctrl_c_stops(trainer):
    """First Ctrl-C asks the trainer to stop (the best model is still saved); a second aborts."""

    def handler(signum, frame):
        trainer.stop()
        signal.signal(signal.SIGINT, previous)
        print(f"\n{PROG}: stopping after this iteration (Ctrl-C again to abort)", file=sys.stderr)

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _load_training_data(args):
    from .io import read_cube, read_labels
    from .training import split_by_fraction, split_per_class

    cube = read_cube(_existing(args.cube))
    gt = read_labels(_existing(args.labels))
    for message in cube.warnings:
        _warn(message, args.quiet)
    if args.split_fraction is not None:
        train, test = split_by_fraction(gt.data, args.split_fraction, args.min_per_class,
                                        seed=args.seed)
        split = {"protocol": "fraction", "fraction": args.split_fraction,
                 "min_per_class": args.min_per_class, "seed": args.seed}
    elif args.split_per_class is not None:
        train, test = split_per_class(gt.data, args.split_per_class, seed=args.seed)
        split = {"protocol": "per_class", "n": args.split_per_class, "seed": args.seed}
    else:
        train = gt.data
        test = None if args.test_labels is None else read_labels(_existing(args.test_labels)).data
        split = {"protocol": "given", "test_labels": args.test_labels}
    return cube, gt, train, test, split


def _train(args) -> int:
    import torch
    from tqdm import tqdm

    from . import __version__
    from .metrics import classification_metrics
    from .modelfile import jsonable, save_classifier
    from .training import TrainConfig, Trainer

    cube, gt, train, test, split = _load_training_data(args)
    config = TrainConfig(
        model=args.model, preset=args.preset, iterations=args.iterations, lr=args.lr,
        power=args.power, per_class=args.per_class or None, seed=args.seed, device=args.device,
        amp=not args.no_amp, eval_every=max(0, args.eval_every), keep=args.keep,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer = Trainer(cube.data, train, config, test_labels=test, class_names=gt.class_names,
                          colors=gt.colors, wavelengths=cube.wavelengths)
    for w in caught:
        _warn(str(w.message), args.quiet)
    bar = tqdm(total=config.iterations, file=sys.stderr, disable=args.quiet, desc="train",
               unit="it", dynamic_ncols=True)
    start = time.perf_counter()
    oa = None
    with _ctrl_c_stops(trainer), bar:
        for event in trainer.run():
            if event.validation is not None:
                oa = event.validation["oa"]
            bar.set_postfix(loss=f"{event.loss:.4f}", **({} if oa is None else {"oa": f"{oa:.4f}"}))
            bar.update(1)
    seconds = time.perf_counter() - start
    clf = trainer.result()
    pred = clf.predict(cube.data, device=trainer.device).labels.astype(gt.data.dtype)
    test_mask = None if trainer.test_labels is None else trainer._test_mask()
    metrics: dict = {"oa": None, "aa": None, "kappa": None, "per_class": {}, "confusion": []}
    if test_mask is not None:
        metrics.update(classification_metrics(pred, trainer.test_labels, exclude=train > 0,
                                              class_values=clf.class_values))
    metrics.update({
        "train_pixels": int((train > 0).sum()),
        "test_pixels": 0 if test_mask is None else int(test_mask.sum()),
        "iterations": trainer.iterations_done,
        "iterations_requested": config.iterations,
        "best_iteration": trainer.best_metrics.get("iteration"),
        "seconds_per_iteration": seconds / max(1, trainer.iterations_done),
        "seed": config.seed, "device": str(trainer.device), "split": split,
        "model": clf.model_name, "preset": config.preset, "lr": config.lr,
        "power": config.power, "per_class_draw": config.per_class, "keep": config.keep,
        "torch_version": torch.__version__, "napari_ssdgl_version": __version__,
    })
    clf.metrics = metrics
    out = Path(args.out)
    save_classifier(clf, out)
    (out / "metrics.json").write_text(json.dumps(jsonable(metrics), indent=2), encoding="utf-8")
    np.save(out / "prediction.npy", pred)
    if not args.quiet:
        summary = "no test set" if metrics["oa"] is None else (
            f"OA {metrics['oa']:.4f}  AA {metrics['aa']:.4f}  kappa {metrics['kappa']:.4f}")
        print(f"{summary}; model, metrics.json and prediction.npy in {out}")
    return 0


def _predict(args) -> int:
    from .io import WRITE_SUFFIXES, read_cube, write_class_map
    from .modelfile import load_classifier

    out = Path(args.out)
    if out.suffix.lower() not in WRITE_SUFFIXES:
        raise CLIError(f"{out}: the class map must be one of {', '.join(WRITE_SUFFIXES)}")
    clf = load_classifier(args.model_dir)
    cube = read_cube(_existing(args.cube))
    for message in cube.warnings:
        _warn(message, args.quiet)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pred = clf.predict(cube.data, tile_size=args.tile_size, overlap=args.overlap,
                           device=args.device)
    for w in caught:
        _warn(str(w.message), args.quiet)
    written = write_class_map(out, pred.labels, geo=cube.geo, class_names=clf.class_names,
                              colors=clf.colors)
    if not args.quiet:
        print(f"class map ({pred.labels.shape[0]} x {pred.labels.shape[1]}) written to {written}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``napari-ssdgl`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    command = {"train": _train, "predict": _predict}[args.command]
    try:
        return command(args)
    except (ValueError, OSError) as exc:  # every user-facing error type derives from these
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2
