"""The dask side of the command line: ``convert IN OUT.zarr`` and ``predict ... --out OUT.zarr``.

Kept apart from :mod:`napari_ssdgl.cli.parser` so that the in-memory commands work without zarr or
dask.distributed installed; ``cli`` registers ``convert`` here and ``predict`` (its own
``--scheduler`` option) hands over when the output is ``.zarr`` or a ``--scheduler`` is given;
then the cube is opened lazily, so it may be larger than memory. Both check their output first
(workflows.outputs) and replace it only with ``--overwrite``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from napari_ssdgl.io.zarr_store import DEFAULT_TILE

INSTALL_HINT = "install the dask extra: pip install 'napari-ssdgl[dask]'"


def add_convert_parser(sub, orthorectify_option) -> argparse.ArgumentParser:
    """``convert IN OUT.zarr``: any readable cube to a chunked zarr cube (``--orthorectify``
    from the parser's ``orthorectify_option``, as train and predict have it)."""
    c = sub.add_parser("convert", help="write a cube to a chunked .zarr (for scenes larger than "
                                       "memory and for dask clusters)")
    c.add_argument("cube", help="cube to convert (.hdr, .tif, .mat, .npy, .npz, .nc, .he5, "
                                     ".zarr)")
    c.add_argument("out", help="output .zarr directory")
    c.add_argument("--tile", type=int, default=DEFAULT_TILE,
                   help=f"spatial chunk edge; chunks hold all bands (default {DEFAULT_TILE})")
    c.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    orthorectify_option(c)
    c.add_argument("--quiet", action="store_true")
    return c


def _preflight(args, out, source) -> None:
    """The output (a .zarr folder, or a .tif) checked before anything is read
    (workflows.outputs.check_outputs): refused if it exists, unless --overwrite."""
    from napari_ssdgl.workflows.outputs import Output, check_outputs

    out = Path(out)
    kind = "folder" if out.suffix.lower() == ".zarr" else "file"
    check_outputs([Output(out, kind)], overwrite=args.overwrite, inputs=[source])


def run_convert(args) -> int:
    try:
        from napari_ssdgl.workflows.convert import convert
        from napari_ssdgl.workflows.dask_run import local_progress
    except ImportError as exc:
        raise ValueError(f"convert needs zarr and dask ({exc}); {INSTALL_HINT}") from None
    _preflight(args, args.out, args.cube)
    with local_progress(not args.quiet):
        out = convert(args.cube, args.out, tile=args.tile, overwrite=args.overwrite,
                      orthorectify=args.orthorectify)
    if not args.quiet:
        print(f"zarr cube written to {out}")
    return 0


def run_predict(args) -> int:
    try:
        from napari_ssdgl.io.lazy import open_lazy
        from napari_ssdgl.prediction.modelfile import load_classifier
        from napari_ssdgl.workflows.dask_run import predict_to_file
    except ImportError as exc:
        raise ValueError(f"dask prediction needs dask and zarr ({exc}); {INSTALL_HINT}") from None
    out = Path(args.out)
    if out.suffix.lower() not in (".zarr", ".tif", ".tiff"):
        raise ValueError(f"{out}: with --scheduler the output must be .zarr (or .tif for the "
                         "class map only)")
    _preflight(args, out, args.cube)
    clf = load_classifier(args.model_dir)
    cube = open_lazy(args.cube, orthorectify=args.orthorectify)
    outputs = ("labels", "probabilities", "entropy", "margin") if args.probabilities else (
        "labels",)
    written = predict_to_file(clf, cube, out, tile_size=args.tile_size, overlap=args.overlap,
                              scheduler=args.scheduler or "threads", outputs=outputs,
                              device=args.device, progress=not args.quiet,
                              overwrite=args.overwrite, tta=args.tta)
    rows, cols = cube.spatial_shape
    if getattr(args, "json", False):
        import json

        print(json.dumps({"source": str(args.cube), "ok": True, "outputs": [str(written)],
                          "shape": [rows, cols]}))
    elif not args.quiet:
        print(f"class map ({rows} x {cols}) written to {written}")
    return 0
