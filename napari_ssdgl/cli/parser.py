"""napari-ssdgl: train, predict, evaluate, reproduce the paper's protocols, run a demo.

Bad input (missing or unreadable files, shape or band mismatches, unusable labels) ends in one
line ``napari-ssdgl: error: ...`` on stderr and exit status 2, never a traceback; a batch
``predict`` that finishes with some failed cubes exits with 1. Every output path is checked
before the work starts, and an existing output is never replaced without ``--overwrite``.
Progress bars and warnings (one ``napari-ssdgl: warning: ...`` line each) go to stderr,
results to stdout (``--json``: one JSON document, nothing else). ``train``'s hyper-parameter
defaults are the paper's Indian Pines 5 % protocol (preset ``indian_pines``,
lr 0.003, power 0.8, 600 iterations) except the per-class draw (up to 256 pixels per class per
iteration; the paper drew 10). The command bodies live in :mod:`napari_ssdgl.cli.commands`.
"""

from __future__ import annotations

import argparse
import json

from napari_ssdgl.prediction.tiling import DEFAULT_OVERLAP
from napari_ssdgl.training import (  # the parser imports torch anyway (devices)
    DEFAULT_DRAW,
    TrainConfig,
)
from napari_ssdgl.training.windows import WINDOW, WINDOWS_PER_BATCH, check_window

DEFAULT_PRESET = TrainConfig.preset

PROG = "napari-ssdgl"
RAW = argparse.RawDescriptionHelpFormatter

EXAMPLES = """\
examples:
  napari-ssdgl demo --out runs/demo
  napari-ssdgl train cube.mat gt.mat --split-fraction 0.05 --out runs/m1 --report
  napari-ssdgl predict runs/m1 scene.tif --out scene_classes.tif
  napari-ssdgl predict runs/m1 'flights/*.hdr' --out-dir maps --format tif,png --probabilities
  napari-ssdgl evaluate maps/scene.tif scene_gt.tif --exclude train_labels.tif --json
  napari-ssdgl assess maps/scene.tif --target-se 0.01 --exclude train_labels.tif --out pts.csv
  napari-ssdgl bands cube.hdr
  napari-ssdgl train cube.hdr gt.tif --exclude-bands auto --out runs/m2
  napari-ssdgl reproduce indian_pines --protocol 5pct --seeds 0,1,2,3,4 --out runs/ip5

'python -m napari_ssdgl' is the same program. Run 'napari-ssdgl COMMAND --help' for details.
"""

TRAIN_EXAMPLES = """\
examples:
  # paper-style split: 5 % of every class trains, the rest of the ground truth tests
  napari-ssdgl train Indian_pines_corrected.mat Indian_pines_gt.mat --split-fraction 0.05 \\
      --preset indian_pines --out runs/ip --report
  # your own sparse labels, a separate test raster, FreeNet, metrics as JSON
  napari-ssdgl train cube.hdr painted.tif --test-labels gt.tif --model freenet --out runs/f --json
  # an ensemble: 3 networks from different random starts, their mean probability (3-4x the time)
  napari-ssdgl train cube.mat gt.mat --split-fraction 0.05 --members 3 --out runs/m3
  # refine: 100 more iterations from runs/ip's model with more labels (new classes get rows)
  napari-ssdgl train cube.mat more_labels.tif --init-from runs/ip --iterations 100 --out runs/ip2

Writes the run folder OUT: model/ (model.safetensors + model.json), metrics.json, history.json,
class_map.npy and, with --report, report.png; demo and each reproduce seed write the same.
'napari-ssdgl predict OUT ...' reads OUT/model/.
"""

PREDICT_EXAMPLES = """\
examples:
  napari-ssdgl predict runs/ip scene.mat --out scene_classes.tif      # one cube, one file
  napari-ssdgl predict runs/ip scene.mat --out scene_classes.png      # colour map with legend
  # many cubes (quoted globs are expanded too); a bad file is reported and skipped,
  # the exit status is 1 if any failed
  napari-ssdgl predict runs/ip 'day1/*.tif' day2/a.hdr --out-dir maps --format tif,hdr,png \\
      --probabilities --uncertainty --tile-size 512

Class-map formats: tif (GeoTIFF, keeps the input's georeferencing), hdr (ENVI classification
with class names and colours), npy, png (colours and legend). --probabilities writes
<name>_probabilities.tif (float32, one band per class), --uncertainty <name>_uncertainty.tif
(float32: band 1 entropy in nats, band 2 top-1 minus top-2 probability).
"""

EVALUATE_EXAMPLES = """\
examples:
  napari-ssdgl evaluate maps/scene.tif scene_gt.tif
  napari-ssdgl evaluate other_tool_map.png gt.mat --exclude train_labels.npy --json > m.json
  napari-ssdgl evaluate maps/scene.npy gt.npy --report evaluation.png

Only pixels labelled in GROUND_TRUTH count; --exclude removes the pixels labelled in
TRAIN_LABELS (the training set) so the score is on test pixels only.
"""


def _protocol_table() -> str:
    from napari_ssdgl.workflows.protocols import PROTOCOLS

    lines = ["protocols (SSDGL.md; 'NAME' when only one scene has it, else 'scene/NAME'):"]
    for table in PROTOCOLS.values():
        for p in table.values():
            lines.append(f"  {p.key:<28} {p.description}")
    return "\n".join(lines)


def _reproduce_epilog() -> str:
    return f"""\
examples:
  napari-ssdgl reproduce indian_pines --protocol 5pct --seeds 0,1,2,3,4 --out runs/ip5
  napari-ssdgl reproduce indian_pines --protocol 10-per-class --seeds 0-4 --out runs/ip10
  # an ensemble of 3 networks per seed (~4x the time on 2 CPU cores; 97.56 % mean OA at
  # 5 % on seeds 0-4 where one network gives 97.35 %; benchmarks/README.md)
  napari-ssdgl reproduce indian_pines --protocol 5pct --members 3 --out runs/ip5-m3
  # very few labels: flips while training, 8 views while predicting, twice the iterations
  # (85.18 % mean OA on seeds 0-4 where the paper's settings give 83.58 %; benchmarks/README.md)
  napari-ssdgl reproduce indian_pines --protocol 10-per-class --augment --tta \\
      --iterations 1200 --out runs/ip10-aug
  napari-ssdgl reproduce pavia_university --protocol 1pct --out runs/pu --report
  # Houston 2013 needs registration to download: give the cube and ground-truth files
  napari-ssdgl reproduce CASI.tif houston_gt.tif --protocol houston2013/10-per-class --out runs/h

{_protocol_table()}

Writes a run folder per seed, OUT/seed_<s>/, laid out as train's: metrics.json, history.json,
class_map.npy (+ model/ with --save-models, report.png with --report); and OUT/summary.json and
OUT/summary.md (mean ± std of OA, AA, kappa and per-class accuracy, seconds per iteration,
total time, device, torch version). The reported model is the last one: no checkpoint is
chosen by its test score.
"""


DEMO_EXAMPLES = """\
examples:
  napari-ssdgl demo                       # writes runs/demo
  napari-ssdgl demo --out /tmp/demo --iterations 60 --json

Trains a small SSDGL on the built-in synthetic scene (64 x 64 pixels, 48 bands, 6 classes;
5 % of each class trains) and writes the run folder OUT, laid out as train's: model/,
metrics.json, history.json, class_map.npy, class_map.tif, class_map.png (with a legend) and
report.png.
"""


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _windows_per_batch(text: str) -> int | None:
    """``auto`` (None: chosen from the labels, ``choose_layout``) or a positive integer."""
    return None if text.strip().lower() == "auto" else _positive_int(text)


def _window(text: str) -> int:
    """A training window in px (``check_window``: a multiple of 16, >= 32), or 0: none."""
    value = int(text)
    try:
        check_window(value, 1)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text}")
    return value


def _seeds(text: str) -> list[int]:
    """'0,1,2' or '0-4' or a mix ('0-2,7')."""
    seeds: list[int] = []
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            lo, sep, hi = part.partition("-") if not part.startswith("-") else (part, "", "")
            seeds.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must look like 0,1,2 or 0-4, got {text}") from None
    if not seeds:
        raise argparse.ArgumentTypeError("give at least one seed")
    return list(dict.fromkeys(seeds))


def _formats(text: str) -> list[str]:
    from napari_ssdgl.io.exports import EXPORT_FORMATS

    formats = [f.strip().lower().lstrip(".") for f in text.split(",") if f.strip()]
    bad = [f for f in formats if f not in EXPORT_FORMATS]
    if bad or not formats:
        raise argparse.ArgumentTypeError(
            f"formats are a comma-separated list of {', '.join(EXPORT_FORMATS)}; got {text}")
    return list(dict.fromkeys(formats))


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError('must be a JSON object, e.g. {"widths": [16,16,16,16]}')
    return value


def _overwrite_option(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--overwrite", action="store_true",
                   help=f"replace existing outputs ({what}); without it an existing output "
                        "is an error, found before any work starts")


def _output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="no progress bars, warnings or summary")
    p.add_argument("--json", action="store_true",
                   help="print the result as one JSON document on stdout (nothing else there)")


def _training_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--augment", action="store_true",
                   help="random flips/transposes of the scene while training")
    p.add_argument("--members", type=_positive_int, default=1, metavar="N",
                   help="train N networks from different random starts side by side and "
                        "predict their mean probability (about N times the training and "
                        "inference work; default 1)")
    p.add_argument("--no-amp", action="store_true",
                   help="no mixed precision (CUDA AMP, CPU bfloat16)")
    _tta_option(p)


def orthorectify_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--orthorectify", action="store_true",
                   help="an EMIT L2A cube (.nc) on its GLT map grid, so outputs are "
                        "georeferenced (default: the swath as acquired)")


def _tta_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tta", action="store_true",
                   help="predict the mean over the 8 flips/transposes of the scene (8x the "
                        "inference; for a model trained with --augment)")


def _device_options(p: argparse.ArgumentParser) -> None:
    from napari_ssdgl.device import DEVICES

    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--threads", type=_positive_int, default=None,
                   help="CPU threads for torch (default: torch's choice)")


def _add_train(sub) -> None:
    t = sub.add_parser("train", help="train a model on a cube and labels", epilog=TRAIN_EXAMPLES,
                       formatter_class=RAW)
    t.add_argument("cube", help="hyperspectral cube (.mat, ENVI .hdr, .tif, .npy/.npz)")
    t.add_argument("labels", help="label raster: training pixels, or the full ground truth "
                                  "when a --split-* option is given")
    t.add_argument("--out", required=True,
                   help="run folder: model/, metrics.json, history.json, class_map.npy")
    split = t.add_mutually_exclusive_group()
    split.add_argument("--split-fraction", type=_fraction, metavar="F",
                       help="train on max(5, ceil(F * count)) pixels per class of LABELS, test on "
                            "the rest")
    split.add_argument("--split-per-class", type=_positive_int, metavar="N",
                       help="train on N pixels per class of LABELS, test on the rest")
    split.add_argument("--test-labels", metavar="PATH", help="test label raster (optional)")
    orthorectify_option(t)
    t.add_argument("--format", type=_formats, default=["npy"], metavar="LIST",
                   help="class-map formats in the run folder: npy,tif,hdr,png (default npy; "
                        "tif and hdr keep the cube's georeferencing)")
    t.add_argument("--min-per-class", type=_positive_int, default=5,
                   help="minimum training pixels per class for --split-fraction (default 5)")
    t.add_argument("--seed", type=int, default=2333)
    t.add_argument("--iterations", type=_positive_int, default=600)
    t.add_argument("--model", choices=("ssdgl", "freenet"), default="ssdgl")
    t.add_argument("--preset", default=DEFAULT_PRESET,
                   help="named widths/kernels (indian_pines, few_samples, pavia_university, ...) "
                        f"or 'none' for the model's own (smaller) defaults (default "
                        f"{DEFAULT_PRESET})")
    t.add_argument("--lr", type=float, default=0.003)
    t.add_argument("--power", type=float, default=0.8, help="poly LR decay power")
    t.add_argument("--per-class", type=int, default=DEFAULT_DRAW,
                   help="pixels drawn per class and iteration (H-B sampling); 0 = all "
                        f"(default {DEFAULT_DRAW}; the paper drew 10)")
    t.add_argument("--eval-every", type=int, default=25)
    t.add_argument("--keep", choices=("last", "best"), default="last",
                   help="model to save: the last one (default) or the one with the best OA on "
                        "a held-out 20 %% of each class's training pixels (the test labels never "
                        "choose; with under 10 held-out pixels the last one is kept)")
    t.add_argument("--init-from", metavar="MODEL_DIR",
                   help="refine: start from this model's weights (a model or run folder) and "
                        "keep its normalisation and architecture (--model and --preset are "
                        "ignored); new classes get new output rows, classes no longer labelled "
                        "are dropped; the cube must have the model's band count")
    t.add_argument("--bands", metavar="LIST",
                   help="train on these bands only: 0-2,5 (counted from 0, ranges inclusive), "
                        "1000-1300nm (band centres in a range; also um), auto (the suspect "
                        "bands, see 'napari-ssdgl bands'); recorded in model.json and dropped "
                        "the same way from a full cube at prediction")
    t.add_argument("--exclude-bands", metavar="LIST",
                   help="leave these bands out (same syntax; e.g. auto,0-3 or "
                        "1350-1450nm,1800-1950nm); auto includes the file's own bad-band "
                        "flags (ENVI bbl, EMIT good_wavelengths), which are not applied "
                        "otherwise; with --bands, its bands less these")
    _training_options(t)
    t.add_argument("--window", type=_window, default=WINDOW, metavar="PX",
                   help="a scene larger than PX either way trains on windows of PX x PX read "
                        "from the cube as needed (lazy readers: the cube is never loaded "
                        f"whole), so an iteration costs the same whatever its size; 0 = always "
                        f"the whole scene (default {WINDOW}: Indian Pines trains whole)")
    t.add_argument("--windows-per-batch", type=_windows_per_batch, default=WINDOWS_PER_BATCH,
                   metavar="B", help="windows per training iteration, or auto (the default): "
                                     "one, or for sparse labels (a window holds under half the "
                                     "classes) 3 windows of about 0.6 times the side, at about "
                                     "the same cost")
    t.add_argument("--reference", action="store_true",
                   help="plain dense float32 training path (the speed yardstick; slower)")
    t.add_argument("--compile", nargs="?", const="inductor", default=None, metavar="BACKEND",
                   help="torch.compile the training step (backend default inductor; falls back "
                        "to eager with a warning where it cannot compile)")
    t.add_argument("--no-cuda-graph", action="store_true",
                   help="on CUDA, launch each training iteration op by op instead of replaying "
                        "it as a CUDA graph (slower on small scenes; for debugging)")
    t.add_argument("--report", action="store_true",
                   help="also write report.png (class map beside ground truth, confusion, curve)")
    _overwrite_option(t, "the run folder's outputs")
    _device_options(t)
    _output_options(t)


def _add_predict(sub) -> None:
    p = sub.add_parser("predict", help="predict class maps of one or many cubes with a model",
                       epilog=PREDICT_EXAMPLES, formatter_class=RAW)
    p.add_argument("model_dir", help="a model folder, or a run folder written by train, demo "
                                     "or reproduce (its model/ is read)")
    p.add_argument("cube", nargs="+", help="cube file(s) or glob pattern(s)")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", help="class map file of ONE cube (.tif, .hdr, .npy or .png)")
    where.add_argument("--out-dir", help="directory for the outputs of every cube")
    p.add_argument("--format", type=_formats, default=["tif"], metavar="LIST",
                   help="class-map formats for --out-dir: tif,hdr,npy,png (default tif)")
    p.add_argument("--probabilities", action="store_true",
                   help="also write class probabilities as a float32 GeoTIFF")
    p.add_argument("--uncertainty", action="store_true",
                   help="also write entropy and margin as a float32 GeoTIFF")
    p.add_argument("--tile-size", type=_positive_int, default=None,
                   help="predict in overlapping tiles of this size (bounded memory)")
    p.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP)
    _tta_option(p)
    orthorectify_option(p)
    if dask_cli() is not None:  # the lazy/dask path for scenes larger than memory
        p.add_argument("--scheduler", default=None,
                       help="predict ONE cube with dask: threads, processes, local:N or "
                            "tcp://HOST:PORT; implied by an --out ending in .zarr")
    _overwrite_option(p, "the class maps and other outputs (a .zarr too)")
    _device_options(p)
    _output_options(p)


def _add_evaluate(sub) -> None:
    e = sub.add_parser("evaluate", help="accuracy of any class map against a ground truth",
                       epilog=EVALUATE_EXAMPLES, formatter_class=RAW)
    e.add_argument("prediction", help="class map (.tif, .hdr, .npy, .mat, .png)")
    e.add_argument("ground_truth", help="ground-truth label raster (0 = unlabelled)")
    e.add_argument("--exclude", metavar="TRAIN_LABELS",
                   help="label raster whose labelled pixels are left out (the training pixels)")
    e.add_argument("--report", metavar="PNG",
                   help="write a report image: map beside ground truth, confusion, per class")
    _overwrite_option(e, "the report image")
    _output_options(e)


def _add_reproduce(sub) -> None:
    r = sub.add_parser("reproduce", help="run a paper protocol over several seeds",
                       epilog=_reproduce_epilog(), formatter_class=RAW)
    r.add_argument("scene", help="sample scene (indian_pines, pavia_university, salinas, "
                                 "synthetic) or a cube file")
    r.add_argument("ground_truth", nargs="?", help="ground-truth file when SCENE is a cube file")
    r.add_argument("--protocol", required=True, help="protocol name, see below")
    r.add_argument("--seeds", type=_seeds, default=[0, 1, 2, 3, 4],
                   help="seeds: 0,1,2 or 0-4 (default 0-4)")
    r.add_argument("--out", required=True,
                   help="output directory: a run folder seed_<s>/ per seed and the summary")
    r.add_argument("--iterations", type=_positive_int, default=None,
                   help="override the protocol's iteration count (600)")
    r.add_argument("--model", choices=("ssdgl", "freenet"), default="ssdgl")
    r.add_argument("--model-kwargs", type=_json_object, default=None, metavar="JSON",
                   help="model constructor overrides, e.g. '{\"widths\": [32,32,64,64]}'")
    r.add_argument("--eval-every", type=int, default=0,
                   help="score the test set every N iterations for the curve only (default "
                        "0: never; the reported model is the last one either way)")
    r.add_argument("--save-models", action="store_true", help="keep every seed's model")
    r.add_argument("--report", action="store_true", help="write seed_<s>/report.png")
    _overwrite_option(r, "the seed folders' outputs and the summary")
    r.add_argument("--paper-draw", action="store_true",
                   help="draw the paper's pixels per class and iteration (e.g. 10) instead of "
                        "every training pixel up to 256 per class (the default)")
    _training_options(r)
    _device_options(r)
    _output_options(r)


def _add_demo(sub) -> None:
    d = sub.add_parser("demo", help="train on the synthetic scene and write every output",
                       epilog=DEMO_EXAMPLES, formatter_class=RAW)
    d.add_argument("--out", default="runs/demo", help="run folder (default runs/demo)")
    d.add_argument("--iterations", type=_positive_int, default=None,
                   help="training iterations (default 150)")
    d.add_argument("--seed", type=int, default=0)
    _overwrite_option(d, "the run folder's outputs")
    _device_options(d)
    _output_options(d)


def dask_cli():
    """:mod:`.dask_commands` (``convert`` and dask ``predict``), or None without it."""
    try:
        from napari_ssdgl.cli import dask_commands as cli_dask
    except ImportError:
        return None
    return cli_dask


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0],
                                     epilog=EXAMPLES, formatter_class=RAW)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_train, _add_predict, _add_evaluate, _add_reproduce, _add_demo):
        add(sub)
    from napari_ssdgl.cli.assess_commands import add_assess_parser

    add_assess_parser(sub, _overwrite_option, _output_options, _positive_int, _fraction)
    from napari_ssdgl.cli.band_commands import add_bands_parser

    add_bands_parser(sub, _output_options)
    if dask_cli() is not None:
        dask_cli().add_convert_parser(sub, orthorectify_option)
    return parser
