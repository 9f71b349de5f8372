"""``napari-ssdgl assess``: propose a stratified reference sample of a class map, or report its
accuracy and class areas with confidence intervals from a labelled one (workflows.assess).

Kept apart from :mod:`napari_ssdgl.cli.commands` (which hands ``assess`` over here) so each
module stays one job; it imports no other CLI module.
"""

from __future__ import annotations

import json
from pathlib import Path

ASSESS_EXAMPLES = """\
examples:
  # propose: enough points for SE(OA) 0.01 (anticipated user's accuracy 0.85), at least 50 per
  # class, none on the training pixels; label the CSV's reference column (or in the dock)
  napari-ssdgl assess maps/scene.tif --target-se 0.01 --exclude train.tif --out points.csv
  # ... expecting class 1 to be mapped worse (0.7) and class 3 better (0.95)
  napari-ssdgl assess maps/scene.tif --target-se 0.01 --anticipated-ua 1:0.7,3:0.95 \
      --out points.csv
  napari-ssdgl assess maps/scene.tif --propose 600 --min-per-class 30 --seed 1 --out points.csv
  # report from the labelled points: OA, user's/producer's accuracy, areas with 95 % CIs
  napari-ssdgl assess maps/scene.tif --reference points.csv --exclude train.tif \\
      --out report.json --out report.png
  # reference from a raster (a ground truth): at the given points, or at a sample drawn now
  # inside the pixels it labels (then they are the population)
  napari-ssdgl assess maps/scene.tif --reference gt.tif --points points.csv --json
  napari-ssdgl assess maps/scene.tif --reference gt.tif --target-se 0.01 --seed 0

The points CSV: row,col,map_class,reference (+ x,y pixel centres for a georeferenced map);
an empty reference is a point not labelled yet. Strata are the map classes; estimators of
Stehman (2014) / Olofsson et al. (2014). Areas in ha when the map is georeferenced (a
GeoTIFF, or an ENVI file with map info) in metres or feet, or on a latitude/longitude grid
small enough for one pixel area (else pixels only, and a note says why), or with
--pixel-size. Report formats by suffix: .json, .csv (the class table), .png.
"""


def add_assess_parser(sub, overwrite_option, output_options, positive, unit_interval) -> None:
    """Register ``assess`` (``overwrite_option``/``output_options`` and the argument types
    ``positive``/``unit_interval``: the parser's shared helpers, passed in so this module
    imports no other CLI module)."""
    import argparse

    from napari_ssdgl.analysis.sample_design import (
        DEFAULT_ANTICIPATED_UA,
        DEFAULT_MIN_PER_CLASS,
    )

    a = sub.add_parser("assess", help="accuracy and class areas with confidence intervals "
                                      "from a stratified reference sample",
                       epilog=ASSESS_EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("map", help="class map (.tif, .hdr, .npy, .mat, .png; 0 = not mapped)")
    a.add_argument("--reference", metavar="POINTS|RASTER",
                   help="labelled points CSV, or a reference label raster (0 = no label)")
    a.add_argument("--points", metavar="CSV",
                   help="with a reference raster: the points to read it at")
    size = a.add_mutually_exclusive_group()
    size.add_argument("--propose", type=positive, metavar="N",
                      help="propose a sample of N points (more only where the per-class "
                           "minimums add up to more)")
    size.add_argument("--target-se", type=unit_interval, metavar="SE",
                      help="propose enough points for this standard error of OA")
    a.add_argument("--min-per-class", type=int, default=DEFAULT_MIN_PER_CLASS,
                   help=f"minimum points per map class (default {DEFAULT_MIN_PER_CLASS}; a "
                        "smaller class is sampled whole)")
    a.add_argument("--anticipated-ua", default=str(DEFAULT_ANTICIPATED_UA),
                   metavar="U|CLASS:U,...",
                   help="anticipated user's accuracy, for --target-se and the expected SE: "
                        "one for every class (0.9) or per class (1:0.8,3:0.95; the others "
                        f"{DEFAULT_ANTICIPATED_UA}) (default {DEFAULT_ANTICIPATED_UA})")
    a.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")
    a.add_argument("--exclude", metavar="TRAIN_LABELS",
                   help="label raster of the training pixels: no point on them, and points "
                        "there are left out (the report says how many)")
    a.add_argument("--pixel-size", type=float, metavar="METRES",
                   help="pixel side in metres, for areas in ha (default: from the map's "
                        "georeferencing)")
    a.add_argument("--confidence", type=unit_interval, default=0.95,
                   help="confidence level of the intervals (default 0.95)")
    a.add_argument("--pseudo-count", type=float, default=0.0, metavar="A",
                   help="floor each stratum's variance at that of (x+A)/(n+2A) (default 0: "
                        "Stehman's variance, zero-width where a stratum's points all agree)")
    a.add_argument("--out", action="append", default=[], metavar="PATH",
                   help="proposal: the points CSV; report: .json, .csv or .png (repeatable)")
    overwrite_option(a, "the points file or the reports")
    output_options(a)


def _existing(path: str) -> str:
    if not Path(path).exists():
        raise ValueError(f"{path}: file not found")
    return path


def _emit(args, obj, text: str) -> None:
    from napari_ssdgl.io.jsonio import jsonable

    if args.json:
        print(json.dumps(jsonable(obj), indent=2, allow_nan=True))
    elif not args.quiet:
        print(text)


def _read_raster(path: str, shape: tuple[int, int], what: str):
    from napari_ssdgl.io import read_labels

    data = read_labels(_existing(path)).data
    if data.shape != shape:
        raise ValueError(f"{path}: the {what} is {data.shape} but the map {shape}")
    return data


def _propose(args, cmap, exclude, geometry, ua) -> int:
    from napari_ssdgl.analysis.sample_design import describe_anticipated_ua, propose_sample
    from napari_ssdgl.workflows.assess import points_from_design, write_points

    design = propose_sample(cmap.data, total=args.propose, target_se=args.target_se,
                            min_per_class=args.min_per_class, anticipated_ua=ua,
                            exclude=exclude, seed=args.seed)
    out = write_points(args.out[0], points_from_design(design), geometry=geometry,
                       overwrite=args.overwrite)
    info = {**design.to_dict(), "out": str(out)}
    per_class = ", ".join(f"{c}: {n}" for c, n in design.allocation.items())
    text = (f"{design.size} points ({per_class}) written to {out}; expected SE of OA "
            f"{design.expected_se:.4f} if user's accuracies are "
            f"{describe_anticipated_ua(ua)}")
    for note in design.notes:
        text += f"\nnote: {note}"
    _emit(args, info, text)
    return 0


def assess(args) -> int:
    """The ``assess`` command: a proposal (``--propose``/``--target-se`` without
    ``--reference``) or a report."""
    from napari_ssdgl.analysis.sample_design import parse_anticipated_ua
    from napari_ssdgl.io import read_labels
    from napari_ssdgl.io.geo import pixel_area_ha
    from napari_ssdgl.workflows.assess import (
        REPORT_SUFFIXES,
        assess_points,
        assess_raster,
        geometry_from_tags,
        read_points,
        report_text,
        write_report,
    )
    from napari_ssdgl.workflows.outputs import check_outputs

    proposing = args.reference is None
    if proposing and args.propose is None and args.target_se is None:
        raise ValueError("give --reference POINTS|RASTER to report, or --propose N / "
                         "--target-se SE with --out points.csv to propose a sample")
    if proposing:
        if len(args.out) != 1 or Path(args.out[0]).suffix.lower() != ".csv":
            raise ValueError("a proposal is written to one --out FILE.csv")
    else:
        bad = [o for o in args.out if Path(o).suffix.lower() not in REPORT_SUFFIXES]
        if bad:
            raise ValueError(f"{bad[0]}: a report is written as "
                             f"{', '.join(REPORT_SUFFIXES)}")
    if args.pseudo_count < 0:
        raise ValueError(f"--pseudo-count cannot be negative, got {args.pseudo_count}")
    ua = parse_anticipated_ua(args.anticipated_ua)
    check_outputs(args.out, overwrite=args.overwrite,
                  inputs=[p for p in (args.map, args.reference, args.points, args.exclude) if p])
    cmap = read_labels(_existing(args.map))
    shape = cmap.data.shape
    exclude = None if args.exclude is None else _read_raster(args.exclude, shape,
                                                             "training-label raster") > 0
    if proposing:
        return _propose(args, cmap, exclude, geometry_from_tags(cmap.geo), ua)
    ha, note = ((args.pixel_size ** 2 / 10_000, None) if args.pixel_size else
                pixel_area_ha(cmap.geo, shape[0]))
    options = {"class_names": cmap.class_names, "pixel_area_ha": ha, "area_note": note,
               "confidence": args.confidence, "pseudo_count": args.pseudo_count}
    if Path(args.reference).suffix.lower() == ".csv":
        if args.points or args.propose or args.target_se:
            raise ValueError("--points, --propose and --target-se go with a reference raster; "
                             "a points CSV is the sample and holds its references")
        result = assess_points(cmap.data, read_points(_existing(args.reference)),
                               exclude=exclude, **options)
    else:
        if args.points and (args.propose or args.target_se):
            raise ValueError("--points is the sample; --propose and --target-se draw one "
                             "instead: give one or the other")
        ref = _read_raster(args.reference, shape, "reference raster")
        points = None if args.points is None else read_points(_existing(args.points))
        result = assess_raster(cmap.data, ref, points=points, exclude=exclude,
                               total=args.propose, target_se=args.target_se,
                               min_per_class=args.min_per_class,
                               anticipated_ua=ua, seed=args.seed, **options)
    written = [write_report(o, result, overwrite=args.overwrite) for o in args.out]
    text = report_text(result)
    if written:
        text += "\nwritten: " + ", ".join(map(str, written))
    _emit(args, {**result.to_dict(), "map": args.map, "reference": args.reference,
                 "outputs": [str(p) for p in written]}, text)
    return 0

