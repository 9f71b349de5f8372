"""Outputs people open in other tools: class maps as GeoTIFF, ENVI, ``.npy`` and colour PNG,
probabilities and uncertainty as float32 GeoTIFF.

GeoTIFF outputs copy the georeferencing tags of the input cube (pixel scale, tie point or
transformation, GeoKeys) so the map lands on the input in a GIS. The input's nodata tag is
dropped: it describes the cube's values, not class values or probabilities. Figures use
matplotlib's ``Figure`` directly (the Agg canvas, no pyplot), so nothing here needs a display
or changes the backend of a napari session running in the same process. Every file is written
under a temporary name and renamed when complete (:mod:`napari_ssdgl.io.atomic`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from napari_ssdgl.io import write_class_map
from napari_ssdgl.io.atomic import atomic_output
from napari_ssdgl.io.writers import geo_extratags

__all__ = [
    "EXPORT_FORMATS",
    "class_map_files",
    "class_palette",
    "colorize",
    "export_class_map",
    "export_prediction",
    "georeferencing",
    "prediction_paths",
    "write_float_tiff",
    "write_png",
]

EXPORT_FORMATS = ("tif", "hdr", "npy", "png")  # class-map formats, by file suffix
UNLABELLED = "#000000"
NODATA_TAG = 42113


def georeferencing(geo: dict | None) -> dict | None:
    """The GeoTIFF tags of ``geo`` that place the raster on the ground (nodata dropped)."""
    if not geo:
        return None
    kept = {k: v for k, v in geo.items() if str(k) != str(NODATA_TAG)}
    return kept or None


def class_palette(values, colors: dict | None = None) -> dict[int, str]:
    """A '#rrggbb' colour for every class value: the given ones, else matplotlib's tab20."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    colors = {int(k): v for k, v in (colors or {}).items()}
    cmap = colormaps["tab20"]
    out = {}
    for i, v in enumerate(sorted({int(v) for v in values if int(v) > 0})):
        out[v] = colors.get(v) or to_hex(cmap(i % cmap.N))
    return out


def colorize(labels: np.ndarray, palette: dict[int, str]) -> np.ndarray:
    """(rows, cols, 3) uint8 RGB image of a label map; 0 and values without a colour are black."""
    from matplotlib.colors import to_rgb

    labels = np.asarray(labels)
    rgb = np.zeros((*labels.shape, 3), dtype=np.uint8)
    for value, color in palette.items():
        rgb[labels == value] = np.round(np.array(to_rgb(color)) * 255).astype(np.uint8)
    return rgb


def label_values(labels: np.ndarray, class_values=None) -> set[int]:
    """The values in ``labels`` together with ``class_values`` (classes a model can predict)."""
    values = set(np.unique(np.asarray(labels)).tolist())
    if class_values is not None:
        values |= {int(v) for v in class_values}
    return values


def legend_handles(palette: dict[int, str], class_names: dict | None) -> list:
    """Legend patches 'value name' in value order."""
    from matplotlib.patches import Patch

    names = {int(k): v for k, v in (class_names or {}).items()}
    return [Patch(facecolor=c, edgecolor="0.3", label=f"{v} {names.get(v, '')}".strip())
            for v, c in sorted(palette.items())]


def write_png(path: str | Path, labels: np.ndarray, *, class_names: dict | None = None,
              colors: dict | None = None, class_values=None, title: str | None = None) -> Path:
    """A colour PNG of ``labels`` with a legend of class names, sized so each map pixel shows."""
    from matplotlib.figure import Figure

    labels = np.asarray(labels)
    palette = class_palette(label_values(labels, class_values), colors)
    rows, cols = labels.shape
    dpi = 100
    scale = max(1, int(np.ceil(400 / max(rows, cols))))
    fig = Figure(figsize=(cols * scale / dpi, rows * scale / dpi), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(colorize(labels, palette), interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    handles = legend_handles(palette, class_names)
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8,
                  frameon=False, ncol=1 + len(handles) // 30)
    path = Path(path)
    with atomic_output(path, overwrite=True, keep_suffix=True) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight", pad_inches=0.1,
                    facecolor="white")
    return path


def write_float_tiff(path: str | Path, data: np.ndarray, *, geo: dict | None = None,
                     band_names: list[str] | None = None) -> Path:
    """A float32 (bands, rows, cols) or (rows, cols) GeoTIFF, band-sequential as GDAL writes it."""
    import tifffile

    data = np.asarray(data, dtype=np.float32)
    path = Path(path)
    kwargs = {"planarconfig": "separate"} if data.ndim == 3 else {}
    with atomic_output(path, overwrite=True, keep_suffix=True) as tmp:
        tifffile.imwrite(tmp, data, photometric="minisblack", compression="zlib",
                         metadata={"bands": list(band_names or [])},
                         extratags=geo_extratags(georeferencing(geo)), **kwargs)
    return path


def export_class_map(path: str | Path, labels: np.ndarray, *, geo: dict | None = None,
                     class_names: dict | None = None, colors: dict | None = None,
                     class_values=None) -> Path:
    """Write a class map in the format its suffix names (.tif/.tiff, .hdr, .npy, .png)."""
    path = Path(path)
    if path.suffix.lower() == ".png":
        return write_png(path, labels, class_names=class_names, colors=colors,
                         class_values=class_values)
    colors = class_palette(label_values(labels, class_values), colors)
    return write_class_map(path, labels, geo=georeferencing(geo), class_names=class_names,
                           colors=colors)


def _band_name(value: int, class_names: dict) -> str:
    name = class_names.get(int(value))
    return f"class {value}" + (f": {name}" if name else "")


def class_map_files(path: str | Path) -> list[Path]:
    """Every file :func:`export_class_map` writes for ``path``: the path, and for ENVI
    (``.hdr``) the data file ``.img`` beside it."""
    path = Path(path)
    return [path.with_suffix(".img"), path] if path.suffix.lower() == ".hdr" else [path]


def prediction_paths(out_dir: str | Path, stem: str, *, formats=("tif",),
                     probabilities: bool = False, uncertainty: bool = False) -> list[Path]:
    """The paths :func:`export_prediction` returns for these options, in its order."""
    out_dir = Path(out_dir)
    paths = [out_dir / f"{stem}.{fmt}" for fmt in formats]
    if probabilities:
        paths.append(out_dir / f"{stem}_probabilities.tif")
    if uncertainty:
        paths.append(out_dir / f"{stem}_uncertainty.tif")
    return paths


def export_prediction(out_dir: str | Path, stem: str, prediction, *, formats=("tif",),
                      geo: dict | None = None, class_names: dict | None = None,
                      colors: dict | None = None, probabilities: bool = False,
                      uncertainty: bool = False) -> list[Path]:
    """Write a :class:`~napari_ssdgl.prediction.Prediction` as ``out_dir/stem.<format>`` for each
    format, plus ``stem_probabilities.tif`` (one float32 band per class) and
    ``stem_uncertainty.tif`` (band 1 entropy in nats, band 2 top-1 minus top-2 margin)."""
    names = {int(k): v for k, v in (class_names or {}).items()}
    values = [int(v) for v in (prediction.class_values if prediction.class_values is not None
                               else np.unique(prediction.labels))]
    paths = prediction_paths(out_dir, stem, formats=formats, probabilities=probabilities,
                             uncertainty=uncertainty)
    written = [
        export_class_map(path, prediction.labels, geo=geo, class_names=names, colors=colors,
                         class_values=values)
        for path in paths[: len(formats)]
    ]
    extra = iter(paths[len(formats):])
    if probabilities:
        written.append(write_float_tiff(next(extra), prediction.probabilities, geo=geo,
                                        band_names=[_band_name(v, names) for v in values]))
    if uncertainty:
        stack = np.stack([prediction.entropy, prediction.margin])
        written.append(write_float_tiff(next(extra), stack, geo=geo,
                                        band_names=["entropy (nats)", "margin (top1 - top2)"]))
    return written
