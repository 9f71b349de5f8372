"""Accuracy and area assessment of a class map, from files to report (CLI ``assess``, the dock).

* **Points file** (CSV): ``row,col,map_class,reference`` (+ ``x,y``, pixel centres in map
  units, when the map is georeferenced). ``map_class`` is the stratum the point was drawn from;
  an empty (or 0) ``reference`` is a point not labelled yet. :func:`write_points` writes a
  proposal (:func:`~napari_ssdgl.analysis.sample_design.propose_sample`), :func:`read_points`
  reads it back, filled in.
* **Assessment** (:func:`assess_points`): the map's classes are the strata; their sizes are
  counted on the map (mapped pixels, minus the excluded training pixels); points on training
  pixels and points without a reference are left out and counted in the report's notes; then
  :func:`~napari_ssdgl.analysis.accuracy_area.stratified_estimates`. A reference raster (a
  ground truth) either labels given points or, without points, a sample drawn now inside the
  pixels it labels (:func:`assess_raster`: the population is then those pixels).
* **Exports** (:func:`write_report`): ``.json`` (everything), ``.csv`` (the class table),
  ``.png`` (the table as an image), each atomically (:mod:`napari_ssdgl.io.atomic`); check
  the paths first with :func:`~napari_ssdgl.workflows.outputs.check_outputs`.
"""

from __future__ import annotations

import csv
import io as _io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from napari_ssdgl.analysis.accuracy_area import AccuracyArea, stratified_estimates
from napari_ssdgl.analysis.sample_design import (
    DEFAULT_ANTICIPATED_UA,
    DEFAULT_MIN_PER_CLASS,
    SampleDesign,
    propose_sample,
    sampling_frame,
)
from napari_ssdgl.io.atomic import atomic_output
from napari_ssdgl.io.geo import tags_geotransform
from napari_ssdgl.io.jsonio import jsonable

__all__ = ["POINT_COLUMNS", "REPORT_SUFFIXES", "Assessment", "MapGeometry", "Points",
           "assess_points", "assess_raster", "points_from_design",
           "read_points", "report_text", "write_points", "write_report"]

POINT_COLUMNS = ("row", "col", "map_class", "reference")
REPORT_SUFFIXES = (".json", ".csv", ".png")


@dataclass
class MapGeometry:
    """Where a georeferenced map's pixels lie: ``transform`` is its GDAL-order geotransform
    ``(x0, dx, rx, y0, ry, dy)``. (A pixel's ground area: ``io.geo.pixel_area_ha``.)"""

    transform: tuple[float, ...]

    def centres(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map coordinates (x, y) of the centres of pixels (row, col)."""
        x0, dx, rx, y0, ry, dy = self.transform
        r, c = np.asarray(rows) + 0.5, np.asarray(cols) + 0.5
        return x0 + c * dx + r * rx, y0 + c * ry + r * dy


def geometry_from_tags(geo: dict | None) -> MapGeometry | None:
    """:class:`MapGeometry` from GeoTIFF tags ``{code: value}`` (as ``Cube.geo`` and
    ``LabelMap.geo`` hold them, from any reader), or None without a grid."""
    transform = tags_geotransform(geo)
    return None if transform is None else MapGeometry(transform)


@dataclass
class Points:
    """Sample points: pixel row and column, the map class (stratum) they were drawn from, and
    their reference class (0: not labelled yet)."""

    rows: np.ndarray
    cols: np.ndarray
    map_class: np.ndarray
    reference: np.ndarray

    def __post_init__(self) -> None:
        for name in ("rows", "cols", "map_class", "reference"):
            setattr(self, name, np.asarray(getattr(self, name), dtype=np.int64).ravel())

    def __len__(self) -> int:
        return int(self.rows.size)


def points_from_design(design: SampleDesign) -> Points:
    return Points(design.rows, design.cols, design.strata, np.zeros_like(design.rows))


def write_points(path: str | Path, points: Points, *, geometry: MapGeometry | None = None,
                 overwrite: bool = False) -> Path:
    """The points as CSV (see the module docstring), written atomically."""
    columns = list(POINT_COLUMNS) + (["x", "y"] if geometry is not None else [])
    buf = _io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    xy = geometry.centres(points.rows, points.cols) if geometry is not None else None
    for i in range(len(points)):
        ref = int(points.reference[i])
        row = [int(points.rows[i]), int(points.cols[i]), int(points.map_class[i]),
               ref if ref > 0 else ""]
        if xy is not None:
            row += [repr(float(xy[0][i])), repr(float(xy[1][i]))]
        writer.writerow(row)
    with atomic_output(path, overwrite=overwrite) as tmp:
        Path(tmp).write_text(buf.getvalue(), encoding="utf-8")
    return Path(path)


def read_points(path: str | Path) -> Points:
    """Points from a CSV with at least ``row,col,map_class`` (``reference`` optional, empty or
    0 = not labelled); a ValueError naming the file and line on anything else."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"{p}: not a text (CSV) points file") from None
    reader = csv.DictReader(_io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in ("row", "col", "map_class") if c not in header]
    if missing:
        raise ValueError(f"{p}: a points file needs the columns row, col, map_class "
                         f"(and reference); missing {', '.join(missing)}")
    reader.fieldnames = header
    cols: dict[str, list[int]] = {c: [] for c in POINT_COLUMNS}
    for line, rec in enumerate(reader, start=2):
        try:
            for c in POINT_COLUMNS:
                value = (rec.get(c) or "").strip()
                cols[c].append(int(float(value)) if value else 0)
        except ValueError:
            raise ValueError(f"{p}, line {line}: row, col, map_class and reference must be "
                             f"whole numbers, got {dict(rec)}") from None
    if not cols["row"]:
        raise ValueError(f"{p}: the points file holds no points")
    return Points(cols["row"], cols["col"], cols["map_class"], cols["reference"])


@dataclass
class Assessment:
    """A report and how it was made: which points counted, which were left out and why."""

    report: AccuracyArea
    points: Points
    used: np.ndarray  # bool per point: counted in the estimates
    excluded_training_points: int = 0
    unlabelled_points: int = 0
    excluded_training_pixels: int = 0
    population: str = "mapped pixels"
    design: dict | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {**self.report.to_dict(), "population": self.population,
                "points_total": len(self.points), "points_used": int(self.used.sum()),
                "excluded_training_points": self.excluded_training_points,
                "unlabelled_points": self.unlabelled_points,
                "excluded_training_pixels": self.excluded_training_pixels,
                "design": self.design, "notes": [*self.notes, *self.report.notes]}


def _check_points(points: Points, shape: tuple[int, int], class_map: np.ndarray) -> None:
    outside = ((points.rows < 0) | (points.rows >= shape[0]) | (points.cols < 0)
               | (points.cols >= shape[1]))
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise ValueError(f"{int(outside.sum())} points lie outside the {shape[0]} x {shape[1]} "
                         f"map (the first at row {points.rows[i]}, col {points.cols[i]})")
    found = class_map[points.rows, points.cols]
    other = found != points.map_class
    if other.any():
        i = int(np.flatnonzero(other)[0])
        raise ValueError(f"{int(other.sum())} points are not on pixels of their map_class "
                         f"(row {points.rows[i]}, col {points.cols[i]}: map_class "
                         f"{points.map_class[i]} but the map says {found[i]}); they were "
                         "drawn from another map, so its strata do not apply")


def assess_points(class_map: np.ndarray, points: Points, *, exclude: np.ndarray | None = None,
                  mask: np.ndarray | None = None, class_names: dict | None = None,
                  pixel_area_ha: float | None = None, area_note: str | None = None,
                  confidence: float = 0.95, pseudo_count: float = 0.0,
                  population: str = "mapped pixels") -> Assessment:
    """The report of labelled ``points`` on ``class_map`` (see the module docstring).
    ``exclude``: the training pixels; ``mask``: the population when it is not every mapped
    pixel; ``area_note``: how the pixel area was found, or why there is none
    (``io.geo.pixel_area_ha``), for the report's notes."""
    cm = np.asarray(class_map)
    frame, excluded_px = sampling_frame(cm, mask=mask, exclude=exclude)
    _check_points(points, cm.shape, cm)
    on_train = (np.zeros(len(points), bool) if exclude is None else
                np.asarray(exclude, bool)[points.rows, points.cols])
    off_frame = ~frame[points.rows, points.cols] & ~on_train
    if off_frame.any():
        raise ValueError(f"{int(off_frame.sum())} points lie on pixels outside the population "
                         "(unmapped, class 0, or outside the mask)")
    unlabelled = (points.reference <= 0) & ~on_train
    used = ~on_train & ~unlabelled
    values, counts = np.unique(cm[frame], return_counts=True)
    sizes = {int(v): int(n) for v, n in zip(values, counts, strict=True)}
    mapped = dict(sizes)
    notes = [] if area_note is None else [area_note]
    if on_train.any():
        notes.append(f"{int(on_train.sum())} points on training pixels excluded")
    if excluded_px:
        notes.append(f"{excluded_px} training pixels excluded from the population")
    if unlabelled.any():
        notes.append(f"{int(unlabelled.sum())} points have no reference label yet and are left "
                     "out")
    if not used.any():
        raise ValueError("no sample point has a reference label: label the points first")
    report = stratified_estimates(points.map_class[used], cm[points.rows, points.cols][used],
                                  points.reference[used], sizes, class_names=class_names,
                                  mapped_pixels=mapped, pixel_area_ha=pixel_area_ha,
                                  confidence=confidence, pseudo_count=pseudo_count)
    return Assessment(report, points, used, int(on_train.sum()), int(unlabelled.sum()),
                      excluded_px, population, notes=notes)


def assess_raster(class_map: np.ndarray, reference: np.ndarray, *,
                  points: Points | None = None, exclude: np.ndarray | None = None,
                  total: int | None = None, target_se: float | None = None,
                  min_per_class: int = DEFAULT_MIN_PER_CLASS,
                  anticipated_ua: float = DEFAULT_ANTICIPATED_UA, seed: int = 0,
                  **options) -> Assessment:
    """The report with the reference classes read from a raster: at ``points`` if given, else
    at a stratified sample drawn now (``total`` points or enough for ``target_se``, default
    0.01) inside the pixels ``reference`` labels (then the population)."""
    ref = np.asarray(reference)
    cm = np.asarray(class_map)
    if ref.shape != cm.shape:
        raise ValueError(f"the reference raster is {ref.shape} but the class map {cm.shape}")
    design = None
    mask = None
    population = "mapped pixels"
    if points is None:
        mask = ref > 0
        if total is None and target_se is None:
            target_se = 0.01
        d = propose_sample(cm, total=total, target_se=target_se, min_per_class=min_per_class,
                           anticipated_ua=anticipated_ua, mask=mask, exclude=exclude,
                           seed=seed)
        points = points_from_design(d)
        design = d.to_dict()
        population = "mapped pixels the reference raster labels"
    else:
        _check_points(points, cm.shape, cm)
    labelled = Points(points.rows, points.cols, points.map_class,
                      ref[points.rows, points.cols])
    result = assess_points(cm, labelled, exclude=exclude, mask=mask, population=population,
                           **options)
    result.design = design
    return result


def report_text(result: Assessment) -> str:
    """The report as plain text: OA, then one line per class (what the CLI prints)."""
    r = result.report
    pct = 100 * r.confidence
    lo, hi = r.oa_ci
    lines = [f"OA {r.oa:.4f} ± {r.z * r.oa_se:.4f} ({pct:.0f} % CI {lo:.4f}-{hi:.4f}); "
             f"{int(result.used.sum())} points, population {r.population_pixels} px "
             f"({result.population})"]
    ha = r.pixel_area_ha is not None
    lines.append(f"{'class':<24} {'points':>6} {'users':>13} {'producers':>13} "
                 f"{'area px':>18}" + (f" {'area ha':>18}" if ha else ""))
    for row in r.table():
        label = f"{row['class']:>3} {row['name']}"[:24]
        line = (f"{label:<24} {row['points']:>6} "
                f"{row['users']:>6.3f}±{r.z * row['users_se']:<6.3f} "
                f"{row['producers']:>6.3f}±{r.z * row['producers_se']:<6.3f} "
                f"{row['area_pixels']:>9.1f}±{r.z * row['area_pixels_se']:<8.1f}")
        if ha:
            line += f" {row['area_ha']:>9.2f}±{r.z * row['area_ha_se']:<8.2f}"
        lines.append(line)
    lines += [f"note: {n}" for n in [*result.notes, *r.notes]]
    return "\n".join(lines)


def _csv_table(result: Assessment) -> str:
    rows = result.report.table()
    buf = _io.StringIO()
    keys = list(dict.fromkeys(k for row in rows for k in row))
    writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in keys})
    lo, hi = result.report.oa_ci
    buf.write(f"# overall accuracy {result.report.oa!r} (SE {result.report.oa_se!r}, "
              f"{100 * result.report.confidence:.0f} % CI {lo!r}-{hi!r})\n")
    for note in [*result.notes, *result.report.notes]:
        buf.write(f"# {note}\n")
    return buf.getvalue()


def _png_table(result: Assessment, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    r = result.report
    ha = r.pixel_area_ha is not None
    header = ["class", "points", "user's", "producer's", "area px"] + (["area ha"] if ha
                                                                         else [])
    cells = []
    for row in r.table():
        cells.append([f"{row['class']} {row['name']}".strip(), str(row['points']),
                      f"{row['users']:.3f} ± {r.z * row['users_se']:.3f}",
                      f"{row['producers']:.3f} ± {r.z * row['producers_se']:.3f}",
                      f"{row['area_pixels']:.0f} ± {r.z * row['area_pixels_se']:.0f}"]
                     + ([f"{row['area_ha']:.2f} ± {r.z * row['area_ha_se']:.2f}"] if ha
                        else []))
    fig = Figure(figsize=(2 + 1.6 * len(header), 1.2 + 0.3 * (len(cells) + 1)))
    ax = fig.add_subplot()
    ax.axis("off")
    lo, hi = r.oa_ci
    ax.set_title(f"OA {r.oa:.3f} ± {r.z * r.oa_se:.3f} ({100 * r.confidence:.0f} % CI "
                 f"{lo:.3f}-{hi:.3f}), {int(result.used.sum())} points", fontsize=10)
    table = ax.table(cellText=cells, colLabels=header, loc="center", cellLoc="right")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    fig.savefig(path, dpi=120, bbox_inches="tight")


def write_report(path: str | Path, result: Assessment, *, overwrite: bool = False) -> Path:
    """Write the report as ``.json``, ``.csv`` or ``.png`` (by the suffix), atomically."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in REPORT_SUFFIXES:
        raise ValueError(f"{p}: a report is {', '.join(REPORT_SUFFIXES)}")
    import json

    with atomic_output(p, overwrite=overwrite, keep_suffix=True) as tmp:
        tmp = Path(tmp)
        if suffix == ".json":
            tmp.write_text(json.dumps(jsonable(result.to_dict()), indent=2, allow_nan=True),
                           encoding="utf-8")
        elif suffix == ".csv":
            tmp.write_text(_csv_table(result), encoding="utf-8")
        else:
            _png_table(result, tmp)
    return p
