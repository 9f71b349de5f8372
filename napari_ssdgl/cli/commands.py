"""Bodies of the ``napari-ssdgl`` commands (the parser is in :mod:`napari_ssdgl.cli.parser`).

Each takes the parsed arguments and returns the exit status; user errors are raised as
``ValueError``/``OSError`` and turned into one ``error:`` line by ``cli.main``. Heavy imports
(torch, matplotlib) happen inside the commands so ``--help`` stays fast.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

PROG = "napari-ssdgl"


class CLIError(ValueError):
    """A user-facing error found by the CLI itself."""


def _existing(path: str) -> str:
    if not Path(path).exists():
        raise CLIError(f"{path}: file not found")
    return path


_SHOWN: set[str] = set()  # the warnings this command has printed (cli_warnings clears it)


def _warn(message, quiet: bool) -> None:
    """One line ``napari-ssdgl: warning: ...`` on stderr, once per command (none with quiet)."""
    text = " ".join(str(message).split())
    if quiet or text in _SHOWN:
        return
    _SHOWN.add(text)
    print(f"{PROG}: warning: {text}", file=sys.stderr)


def _warn_about(source: str, messages, quiet: bool) -> None:
    """The notes a reader or a prediction recorded about ``source``, each as ``source: note``,
    unless already printed (a reader that also warned has been shown, with its own file name)."""
    for message in messages:
        text = " ".join(str(message).split())
        if not any(s == text or s.endswith(f": {text}") for s in _SHOWN):
            _warn(f"{source}: {text}", quiet)


def _recorder():
    """Whoever records warnings around the command (``catch_warnings(record=True)``, pytest),
    or None where warnings would just be printed."""
    impl = getattr(warnings, "_showwarnmsg_impl", None)
    default = getattr(impl, "__module__", None) == "warnings" and getattr(
        impl, "__name__", None) == "_showwarnmsg_impl"
    return None if impl is None or default else impl


@contextmanager
def cli_warnings(quiet: bool):
    """While a command runs, every Python warning (the engine's, a library's) is printed once as
    one ``napari-ssdgl: warning:`` line (none with ``quiet``) instead of Python's two lines with
    the source; a recorder around the command still receives it."""
    _SHOWN.clear()
    with warnings.catch_warnings():
        recorder = _recorder()

        def show(message, category, filename, lineno, file=None, line=None):
            _warn(message, quiet)
            if recorder is not None:
                recorder(warnings.WarningMessage(message, category, filename, lineno, file,
                                                 line))

        warnings.showwarning = show
        yield


def _preflight(args, outputs, inputs=()) -> None:
    """Every output of the command checked before any work (workflows.outputs.check_outputs):
    refused if it exists, unless --overwrite."""
    from napari_ssdgl.workflows.outputs import check_outputs

    check_outputs(outputs, overwrite=args.overwrite, inputs=[p for p in inputs if p])


def _emit_json(obj) -> None:
    from napari_ssdgl.io.jsonio import jsonable

    print(json.dumps(jsonable(obj), indent=2, allow_nan=True))


def _say(args, text: str) -> None:
    """Human-readable result on stdout, unless --quiet or --json."""
    if not (args.quiet or args.json):
        print(text)


def metrics_text(m: dict, class_names: dict | None = None) -> str:
    """OA/AA/kappa, a per-class table (accuracy and test pixels) and the largest confusions
    as plain text."""
    from napari_ssdgl.analysis.metrics import confusions_text

    names = {int(k): v for k, v in (class_names or {}).items()}
    counts = dict(zip(m["class_values"], np.asarray(m["confusion"]).sum(axis=1).tolist(),
                      strict=True))
    lines = [f"OA {100 * m['oa']:.2f} %  AA {100 * m['aa']:.2f} %  kappa {m['kappa']:.4f}  "
             f"({m['n_test']} test pixels)", f"{'class':<34} {'accuracy':>9} {'pixels':>8}"]
    for value, acc in sorted(m["per_class"].items(), key=lambda kv: int(kv[0])):
        label = f"{int(value):>3} {names.get(int(value), '')}"[:34]
        lines.append(f"{label:<34} {100 * acc:>7.2f} % {counts.get(int(value), 0):>8}")
    worst = confusions_text(m, names)
    return "\n".join([*lines, worst] if worst else lines)


# -- train ------------------------------------------------------------------------------------
def _members(model_kwargs: dict | None, members: int) -> dict:
    """Model keyword arguments with ``--members`` (an ensemble when > 1) folded in."""
    return {**(model_kwargs or {}), **({"members": members} if members > 1 else {})}


def _training_cube(path: str, window: int | None, orthorectify: bool = False):
    """The cube to train on: opened lazily (never loaded) when its reader allows and it is
    larger than the training ``window``, so it trains in windows read as needed; else read
    into memory as always. ``orthorectify``: an EMIT cube on its GLT map grid."""
    from napari_ssdgl.io import read_cube
    from napari_ssdgl.io.base import HSIReadError
    from napari_ssdgl.io.lazy import can_open_lazy, open_lazy
    from napari_ssdgl.training.windows import is_windowed

    if window and can_open_lazy(path):
        try:
            lazy = open_lazy(path, orthorectify=orthorectify)
        except HSIReadError:  # the in-memory reader gives its own, fuller message
            lazy = None
        if lazy is not None and lazy.data.ndim == 3 and is_windowed(lazy.data.shape[1:],
                                                                    window):
            return lazy
    return read_cube(path, orthorectify=orthorectify)


def _class_map(clf, data, trainer, tta: bool) -> np.ndarray:
    """The trained model's class map of its training cube: whole in memory as always, or, for
    a window-trained model, in one dask pass over tiles (its own statistics, no statistics
    passes; the cube stays lazy and only the class map is in memory)."""
    if not trainer.windowed:
        return clf.predict(data, device=trainer.device, tta=tta).labels
    import dask.array as da

    from napari_ssdgl.prediction.dask_predict import predict_dask

    if not isinstance(data, da.Array):  # a memory map or another lazy array
        data = da.from_array(data, chunks=(data.shape[0], 512, 512))
    labels = predict_dask(clf, data, device=trainer.device.type, tta=tta).labels
    return labels.compute(scheduler="threads")


def _load_training_data(args):
    from napari_ssdgl.io import read_labels
    from napari_ssdgl.training import TrainingError, split_by_fraction, split_per_class

    cube = _training_cube(_existing(args.cube), args.window, args.orthorectify)
    gt = read_labels(_existing(args.labels))
    _warn_about(args.cube, cube.warnings, args.quiet)
    try:
        if args.split_fraction is not None:
            train, test = split_by_fraction(gt.data, args.split_fraction, args.min_per_class,
                                            seed=args.seed)
            split = {"protocol": "fraction", "fraction": args.split_fraction,
                     "min_per_class": args.min_per_class, "seed": args.seed}
            return cube, gt, train, test, split
        if args.split_per_class is not None:
            train, test = split_per_class(gt.data, args.split_per_class, seed=args.seed)
            split = {"protocol": "per_class", "n": args.split_per_class, "seed": args.seed}
            return cube, gt, train, test, split
    except TrainingError as exc:  # the labels cannot be split: say which file
        raise CLIError(f"{args.labels}: {exc}") from None
    train = gt.data
    test = None if args.test_labels is None else read_labels(_existing(args.test_labels)).data
    split = {"protocol": "given", "test_labels": args.test_labels}
    return cube, gt, train, test, split


def _listing(written: list[Path]) -> str:
    """'model/, metrics.json and report.png': the names of a run folder's outputs."""
    names = [p.name + ("/" if p.is_dir() else "") for p in written]
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else "".join(names)


def _naming_input(args, message: str) -> str:
    """``message`` (the trainer's, about "the cube" or "... labels") led by the file it is
    about, unless it names one already."""
    about = {"the cube": args.cube, "test labels": args.test_labels,
             "training labels": args.labels}
    for words, path in about.items():
        if path and words in message and path not in message:
            return f"{path}: {message}"
    return message


def _training_bands(args, cube):
    """The BandSelection of ``--bands`` / ``--exclude-bands`` (None: all bands); a list that
    does not parse is a CLIError naming the option."""
    from napari_ssdgl.analysis.band_syntax import BandSyntaxError, format_bands
    from napari_ssdgl.workflows.band_selection import band_selection

    keep, exclude = getattr(args, "bands", None), getattr(args, "exclude_bands", None)
    if keep is None and exclude is None:
        return None
    option = "/".join(o for o, v in (("--bands", keep), ("--exclude-bands", exclude))
                      if v is not None)
    try:
        selection = band_selection(cube, keep=keep, exclude=exclude)
    except BandSyntaxError as exc:
        raise CLIError(f"{option}: {exc}") from None
    if selection is None:
        _say(args, f"{option}: every band of the cube's {cube.data.shape[0]} kept")
    else:
        _say(args, f"training on {len(selection.indices)} of {selection.source_bands} bands; "
                   f"excluded {format_bands(selection.excluded)}")
    return selection


def train(args) -> int:
    from napari_ssdgl.training import TrainConfig, Trainer, TrainingError
    from napari_ssdgl.workflows.progress import stop_on_ctrl_c, train_with_progress
    from napari_ssdgl.workflows.rundir import run_metrics, run_outputs, write_run

    _preflight(args, run_outputs(args.out, formats=args.format, report=args.report),
               inputs=[args.cube, args.labels, args.test_labels])
    cube, gt, train_labels, test, split = _load_training_data(args)
    selection = _training_bands(args, cube)
    config = TrainConfig(
        model=args.model, preset=None if args.preset == "none" else args.preset,
        iterations=args.iterations, lr=args.lr,
        power=args.power, per_class=args.per_class or None, augment=args.augment, seed=args.seed,
        device=args.device,
        amp=not args.no_amp, eval_every=max(0, args.eval_every), keep=args.keep,
        reference=args.reference, compile=args.compile, cuda_graph=not args.no_cuda_graph,
        model_kwargs=_members(None, args.members), window=args.window or None,
        windows_per_batch=args.windows_per_batch,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            trainer = Trainer(cube.data, train_labels, config, test_labels=test,
                              class_names=gt.class_names, colors=gt.colors,
                              wavelengths=cube.wavelengths,
                              init_from=None if args.init_from is None else _existing(
                                  args.init_from), bands=selection,
                              wavelength_units=cube.wavelength_units, fwhm=cube.fwhm,
                              final_test=False)  # the class map below is scored instead
        except TrainingError as exc:
            raise CLIError(_naming_input(args, str(exc))) from None
    for w in caught:
        _warn(_naming_input(args, str(w.message)), args.quiet)
    if trainer.window_reason and not args.quiet:  # windows per iteration left to the labels
        print(f"{PROG}: training on {trainer.config.windows_per_batch} window(s) of "
              f"{trainer.config.window} px per iteration: {trainer.window_reason}",
              file=sys.stderr)
    with stop_on_ctrl_c(trainer, PROG):
        history, seconds = train_with_progress(trainer, quiet=args.quiet)
    clf = trainer.result()
    start = time.perf_counter()
    pred = _class_map(clf, cube.data, trainer, args.tta).astype(gt.data.dtype)
    metrics = run_metrics(trainer, clf, pred, trainer.test_labels, train_seconds=seconds,
                          inference_seconds=time.perf_counter() - start, tta=args.tta,
                          split=split)
    clf.metrics = metrics
    truth = None
    if args.report and metrics["oa"] is None:
        _warn("--report needs test labels (a --split-* option or --test-labels); "
              "no report written", args.quiet)
    elif args.report:
        truth = gt.data if test is None or split["protocol"] != "given" else test
    out = Path(args.out)
    written = write_run(out, clf, pred, metrics, history, formats=args.format, geo=cube.geo,
                        report_truth=truth, report_title=f"{Path(args.cube).name}: "
                                                         f"{clf.model_name}")
    if args.json:
        _emit_json(metrics)
    summary = "no test set" if metrics["oa"] is None else (
        f"OA {metrics['oa']:.4f}  AA {metrics['aa']:.4f}  kappa {metrics['kappa']:.4f}")
    _say(args, f"{summary}; {_listing(written)} in {out}")
    return 0


# -- predict ----------------------------------------------------------------------------------
def _predict_one(args) -> int:
    from napari_ssdgl.io import read_cube
    from napari_ssdgl.io.exports import (
        EXPORT_FORMATS,
        class_map_files,
        export_class_map,
        export_prediction,
        prediction_paths,
    )
    from napari_ssdgl.prediction.modelfile import load_classifier

    out = Path(args.out)
    if len(args.cube) != 1:
        raise CLIError(f"--out writes one class map but {len(args.cube)} cubes were given; "
                       "use --out-dir DIR for several")
    fmt = out.suffix.lower().lstrip(".")
    fmt = "tif" if fmt == "tiff" else fmt
    if fmt not in EXPORT_FORMATS:
        raise CLIError(f"{out}: the class map must be one of "
                       f"{', '.join('.' + f for f in EXPORT_FORMATS)}")
    if out.resolve() == Path(args.cube[0]).resolve():
        raise CLIError(f"{out}: the class map would overwrite the input cube")
    extra = prediction_paths(out.parent, out.stem, formats=(), probabilities=args.probabilities,
                             uncertainty=args.uncertainty)
    _preflight(args, [*class_map_files(out), *extra], inputs=[args.cube[0]])
    clf = load_classifier(args.model_dir)
    cube = read_cube(_existing(args.cube[0]), orthorectify=args.orthorectify)
    _warn_about(args.cube[0], cube.warnings, args.quiet)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            pred = clf.predict(cube, tile_size=args.tile_size, overlap=args.overlap,
                               device=args.device, tta=args.tta)
        except ValueError as exc:  # the cube does not fit the model (bands, size): say which
            message = str(exc)
            raise CLIError(message if args.cube[0] in message else f"{args.cube[0]}: {message}"
                           ) from None
    _warn_about(args.cube[0], [w.message for w in caught], args.quiet)
    written = [export_class_map(out, pred.labels, geo=cube.geo, class_names=clf.class_names,
                                colors=clf.colors, class_values=pred.class_values)]
    written += export_prediction(out.parent, out.stem, pred, formats=(), geo=cube.geo,
                                 class_names=clf.class_names, probabilities=args.probabilities,
                                 uncertainty=args.uncertainty)
    if args.json:
        _emit_json({"source": args.cube[0], "ok": True, "outputs": [str(p) for p in written],
                    "shape": list(pred.labels.shape)})
    _say(args, f"class map ({pred.labels.shape[0]} x {pred.labels.shape[1]}) written to "
               f"{', '.join(map(str, written))}")
    return 0


def _predict_dask(args) -> int:
    """Hand one cube to the lazy/dask path (``.zarr`` output or ``--scheduler``)."""
    from napari_ssdgl.cli import dask_commands as cli_dask

    if args.out is None or len(args.cube) != 1:
        raise CLIError("--scheduler / a .zarr output take one cube and --out, not --out-dir")
    args.cube = args.cube[0]
    args.probabilities = args.probabilities or args.uncertainty
    return cli_dask.run_predict(args)


def predict(args) -> int:
    from napari_ssdgl.prediction.modelfile import load_classifier
    from napari_ssdgl.workflows.batch import outputs, plan_outputs, predict_many

    if getattr(args, "scheduler", None) or str(args.out or "").lower().endswith(".zarr"):
        return _predict_dask(args)
    if args.out is not None:
        return _predict_one(args)
    items = plan_outputs(args.cube, args.out_dir, formats=args.format,
                         probabilities=args.probabilities, uncertainty=args.uncertainty)
    _preflight(args, outputs(items, args.out_dir))
    clf = load_classifier(args.model_dir)
    items = predict_many(clf, items, args.out_dir, formats=args.format,
                         probabilities=args.probabilities, uncertainty=args.uncertainty,
                         tile_size=args.tile_size, overlap=args.overlap, device=args.device,
                         tta=args.tta, orthorectify=args.orthorectify, quiet=args.quiet)
    failed = [it for it in items if not it.ok]
    for it in items:
        _warn_about(it.source, it.warnings, args.quiet)
    if args.json:
        _emit_json({"out_dir": args.out_dir, "ok": len(items) - len(failed),
                    "failed": len(failed), "items": [it.to_dict() for it in items]})
    _say(args, f"{len(items) - len(failed)} of {len(items)} cubes predicted into {args.out_dir}")
    if failed:  # the failure report goes to stderr even with --quiet: it is the result
        print(f"{PROG}: {len(failed)} of {len(items)} cubes failed:", file=sys.stderr)
        for it in failed:
            print(f"  {it.error}", file=sys.stderr)
        return 1
    return 0


# -- evaluate ---------------------------------------------------------------------------------
def evaluate(args) -> int:
    from napari_ssdgl.analysis.metrics import classification_metrics
    from napari_ssdgl.io import read_labels

    _preflight(args, [args.report] if args.report else [],
               inputs=[args.prediction, args.ground_truth, args.exclude])
    pred = read_labels(_existing(args.prediction))
    gt = read_labels(_existing(args.ground_truth))
    if pred.data.shape != gt.data.shape:
        raise CLIError(f"{args.prediction}: the class map is {pred.data.shape} but the ground "
                       f"truth {args.ground_truth} is {gt.data.shape}")
    exclude = None
    if args.exclude is not None:
        exclude = read_labels(_existing(args.exclude)).data > 0
        if exclude.shape != gt.data.shape:
            raise CLIError(f"{args.exclude}: shape {exclude.shape} differs from the ground "
                           f"truth's {gt.data.shape}")
    m = classification_metrics(pred.data, gt.data, exclude=exclude)
    names = gt.class_names or pred.class_names
    colors = gt.colors or pred.colors
    m["per_class"] = {str(k): v for k, v in m["per_class"].items()}
    m.update({"prediction": args.prediction, "ground_truth": args.ground_truth,
              "excluded": args.exclude, "excluded_pixels": 0 if exclude is None else
              int((exclude & (gt.data > 0)).sum()),
              "class_names": {str(k): v for k, v in names.items()}})
    if args.report:
        from napari_ssdgl.analysis.reports import write_report

        write_report(args.report, pred.data, gt.data, m, class_names=names, colors=colors,
                     title=f"{Path(args.prediction).name} vs {Path(args.ground_truth).name}")
    if args.json:
        _emit_json(m)
    _say(args, metrics_text(m, names))
    return 0


# -- reproduce --------------------------------------------------------------------------------
def reproduce(args) -> int:
    from napari_ssdgl.workflows.protocols import get_protocol
    from napari_ssdgl.workflows.reproduce import (
        load_scene_data,
        markdown_summary,
        reproduce_outputs,
    )
    from napari_ssdgl.workflows.reproduce import reproduce as run

    _preflight(args, reproduce_outputs(args.out, args.seeds, save_models=args.save_models,
                                       report=args.report),
               inputs=[args.scene if args.ground_truth else None, args.ground_truth])
    if args.ground_truth is None:
        from napari_ssdgl.datasets import list_scenes

        if args.scene not in list_scenes():
            what = "a file" if Path(args.scene).exists() else "not a sample scene"
            raise CLIError(f"{args.scene} is {what}; give a sample scene "
                           f"({', '.join(list_scenes())}) or a cube file AND its ground truth")
        protocol = get_protocol(args.protocol, scene=args.scene)
        data = load_scene_data(args.scene, protocol=protocol)
    else:
        protocol = get_protocol(args.protocol)
        data = load_scene_data(_existing(args.scene), _existing(args.ground_truth), protocol)
    _warn_about(args.scene, data.cube.warnings, args.quiet)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = run(data, protocol, args.seeds, args.out, save_models=args.save_models,
                      report=args.report, quiet=args.quiet, model=args.model,
                      iterations=args.iterations, device=args.device, amp=not args.no_amp,
                      eval_every=max(0, args.eval_every),
                      model_kwargs=_members(args.model_kwargs, args.members),
                      paper_draw=args.paper_draw, augment=args.augment, tta=args.tta)
    for message in dict.fromkeys(str(w.message) for w in caught):
        _warn(message, args.quiet)
    if args.json:
        _emit_json(summary)
    _say(args, markdown_summary(summary) + f"\nFiles in {args.out}")
    return 0


# -- assess -----------------------------------------------------------------------------------
def bands(args) -> int:
    """A cube's suspect bands: the body is in :mod:`.band_commands`."""
    from napari_ssdgl.cli.band_commands import bands as run

    return run(args, _existing)


def assess(args) -> int:
    """Accuracy and areas with confidence intervals: the body is in :mod:`.assess_commands`."""
    from napari_ssdgl.cli.assess_commands import assess as run

    return run(args)


# -- demo -------------------------------------------------------------------------------------
def demo(args) -> int:
    import torch

    from napari_ssdgl.datasets import load_scene
    from napari_ssdgl.workflows.protocols import get_protocol
    from napari_ssdgl.workflows.reproduce import SceneData, run_seed
    from napari_ssdgl.workflows.rundir import run_outputs, write_run

    formats = ("npy", "tif", "png")
    _preflight(args, run_outputs(args.out, formats=formats, report=True))
    if not args.threads:  # the demo's tiny network gains nothing from more threads
        torch.set_num_threads(1)
    scene = load_scene("synthetic")
    data = SceneData("synthetic", scene.title, scene.cube, scene.gt)
    protocol = get_protocol("synthetic/5pct")
    iterations = args.iterations or protocol.iterations
    run = run_seed(data, protocol, args.seed, iterations=iterations, device=args.device,
                   eval_every=max(1, iterations // 6), quiet=args.quiet)
    out = Path(args.out)
    m = run.metrics
    names = scene.gt.class_names
    written = write_run(out, run.classifier, run.prediction, m, run.history,
                        formats=formats, geo=scene.cube.geo, class_names=names,
                        colors=scene.gt.colors, report_truth=scene.gt.data,
                        report_title=f"napari-ssdgl demo: {scene.title}, {protocol.key}")
    if args.json:
        _emit_json({**m, "out": str(out)})
    _say(args, f"{metrics_text(m, names)}\n{m['iterations']} iterations in "
               f"{m['train_seconds']:.1f} s on {m['device']}; {_listing(written)} in {out}")
    return 0
