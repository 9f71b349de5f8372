"""``napari-ssdgl bands CUBE``: the cube's suspect bands and why (analysis.bands), as the text
``train --exclude-bands auto`` would drop; kept apart from :mod:`napari_ssdgl.cli.commands`
like the other command groups, importing no other CLI module."""

from __future__ import annotations

import argparse
import json

BANDS_EXAMPLES = """\
examples:
  napari-ssdgl bands cube.hdr                 # one line per run of suspect bands
  napari-ssdgl bands cube.hdr --json          # indices, reasons, SNR per band
  napari-ssdgl train cube.hdr gt.tif --exclude-bands auto,0-2 --out runs/m

Suspect: flagged bad by the file (ENVI bbl, EMIT good_wavelengths), non-finite in over 1 % of
pixels, (near-)constant, low signal-to-noise (noise from neighbouring-pixel differences), and
the 1350-1450 / 1800-1950 nm water-absorption windows when the wavelengths are known. Measured
on the central 256 x 256 pixels.
"""


def add_bands_parser(sub, output_options) -> None:
    """Register ``bands`` (``output_options``: the parser's --quiet/--json helper)."""
    b = sub.add_parser("bands", help="list a cube's suspect bands (bad-band flags, noise, "
                                     "water absorption)", epilog=BANDS_EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    b.add_argument("cube", help="hyperspectral cube (any format train reads)")
    output_options(b)


def bands(args, existing) -> int:
    """The body of ``bands``; ``existing`` checks that a path exists (the CLI's helper)."""
    from napari_ssdgl.analysis.band_syntax import format_bands
    from napari_ssdgl.io import read_cube
    from napari_ssdgl.workflows.band_selection import detect_cube

    cube = read_cube(existing(args.cube))
    report = detect_cube(cube)
    if args.json:
        from napari_ssdgl.io.jsonio import jsonable

        print(json.dumps(jsonable({
            "source": args.cube, "bands": report.bands, "suspect": report.indices,
            "exclude_bands": format_bands(report.indices),
            "reasons": {str(b): list(why) for b, why in report.reasons.items()},
            "snr": None if report.snr is None else [None if v != v else float(v)
                                                    for v in report.snr]}), indent=2))
    elif not args.quiet:
        print(report.summary())
        if report.indices:
            print(f"to leave them out: --exclude-bands auto (= {format_bands(report.indices)})")
    return 0
