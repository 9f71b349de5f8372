"""Map accuracy and class areas with confidence intervals from a stratified random sample.

The estimators of Stehman (2014, Int. J. Remote Sens. 35, 4923-4939), which hold whether or not
the strata are the map classes (with map classes as strata they are those of Olofsson et al.
2014, Remote Sens. Environ. 148, 42-57). Every quantity is a stratified estimate of a population
total of a 0/1 indicator per sample point (eqs. 25-27 there), or a ratio of two such totals
(user's and producer's accuracy, eqs. 28-29): the area proportion of class k counts points whose
reference is k; overall accuracy points where map equals reference; cell (i, j) of the
error-adjusted matrix points mapped i with reference j. Variances carry the finite population
correction ``1 - n_h / N_h`` (a stratum sampled whole contributes none). Intervals are
estimate ± z·SE (normal approximation, z = 1.96 for 95 %), clipped to the possible range.
numpy only: the CLI, the dock and the coverage benchmark all call :func:`stratified_estimates`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np

__all__ = ["AccuracyArea", "ClassEstimate", "stratified_estimates", "z_value"]


def z_value(confidence: float) -> float:
    """Two-sided normal quantile: 1.96 for 0.95."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


@dataclass
class ClassEstimate:
    """One class: user's and producer's accuracy, its area, each with its standard error."""

    value: int
    name: str
    points: int  # sample points mapped as this class
    mapped_pixels: int | None  # pixels of the frame mapped as this class (None: not given)
    users: float
    users_se: float
    producers: float
    producers_se: float
    area_proportion: float
    area_proportion_se: float
    area_pixels: float
    area_pixels_se: float
    area_ha: float | None = None
    area_ha_se: float | None = None


@dataclass
class AccuracyArea:
    """The whole report: overall accuracy, one :class:`ClassEstimate` per class, the
    error-adjusted confusion matrix (rows map class, columns reference class, area proportions
    summing to 1), and what the estimates cover."""

    oa: float
    oa_se: float
    classes: list[ClassEstimate]
    matrix: np.ndarray
    population_pixels: int
    sample_points: int
    confidence: float = 0.95
    pixel_area_ha: float | None = None
    pseudo_count: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def z(self) -> float:
        return z_value(self.confidence)

    def interval(self, value: float, se: float, upper: float = 1.0) -> tuple[float, float]:
        """value ± z·SE clipped to [0, upper] (NaN stays NaN)."""
        half = self.z * se
        return float(max(0.0, value - half)), float(min(upper, value + half))

    @property
    def oa_ci(self) -> tuple[float, float]:
        return self.interval(self.oa, self.oa_se)

    def class_values(self) -> list[int]:
        return [c.value for c in self.classes]

    def table(self) -> list[dict]:
        """One row per class with every estimate and its interval (what the CSV, the PNG and
        the dock show)."""
        rows = []
        n = float(self.population_pixels)
        for c in self.classes:
            row = {"class": c.value, "name": c.name, "points": c.points,
                   "mapped_pixels": c.mapped_pixels,
                   "users": c.users, "users_se": c.users_se,
                   "users_low": self.interval(c.users, c.users_se)[0],
                   "users_high": self.interval(c.users, c.users_se)[1],
                   "producers": c.producers, "producers_se": c.producers_se,
                   "producers_low": self.interval(c.producers, c.producers_se)[0],
                   "producers_high": self.interval(c.producers, c.producers_se)[1],
                   "area_proportion": c.area_proportion,
                   "area_proportion_se": c.area_proportion_se,
                   "area_pixels": c.area_pixels, "area_pixels_se": c.area_pixels_se,
                   "area_pixels_low": self.interval(c.area_pixels, c.area_pixels_se, n)[0],
                   "area_pixels_high": self.interval(c.area_pixels, c.area_pixels_se, n)[1]}
            if c.area_ha is not None:
                total_ha = n * float(self.pixel_area_ha)
                low, high = self.interval(c.area_ha, c.area_ha_se, total_ha)
                row.update({"area_ha": c.area_ha, "area_ha_se": c.area_ha_se,
                            "area_ha_low": low, "area_ha_high": high})
            rows.append(row)
        return rows

    def to_dict(self) -> dict:
        """Plain values for JSON."""
        return {"oa": self.oa, "oa_se": self.oa_se, "oa_low": self.oa_ci[0],
                "oa_high": self.oa_ci[1], "confidence": self.confidence, "z": self.z,
                "population_pixels": self.population_pixels,
                "sample_points": self.sample_points, "pixel_area_ha": self.pixel_area_ha,
                "pseudo_count": self.pseudo_count,
                "classes": self.table(), "class_values": self.class_values(),
                "error_matrix": self.matrix.tolist(),
                "error_matrix_axes": "rows: map class, columns: reference class (class_values "
                                     "order); area proportions of the population",
                "notes": list(self.notes)}


class _Design:
    """The stratum bookkeeping every estimate shares: sizes N_h, sample sizes n_h and each
    stratum's variance factor N_h^2 (1 - n_h/N_h) / n_h."""

    def __init__(self, strata: np.ndarray, sizes: Mapping[int, int]):
        self.strata = strata
        self.order = np.array(sorted(int(h) for h in np.unique(strata)), dtype=np.int64)
        self.N_h = np.array([float(sizes[int(h)]) for h in self.order])
        self.n_h = np.array([float((strata == h).sum()) for h in self.order])
        self.members = [strata == h for h in self.order]
        self.factor = self.N_h ** 2 * (1 - self.n_h / self.N_h) / self.n_h
        self.N = float(sum(float(v) for v in sizes.values()))

    def total(self, y: np.ndarray) -> np.ndarray:
        """Stratified estimate of the population total of each column of y (points, m)."""
        means = np.stack([y[m].mean(axis=0) for m in self.members])
        return (self.N_h[:, None] * means).sum(axis=0)

    def total_var(self, y: np.ndarray, pseudo_count: float = 0.0) -> np.ndarray:
        """Variance of :meth:`total` (eq. 26 with the finite population correction); a
        stratum with one point and N_h > 1 makes it NaN (no within-stratum variance).
        ``pseudo_count`` a > 0 (0/1 indicators only): each stratum's variance is at least that
        of the proportion (x + a) / (n + 2a), so a stratum whose points all agree still adds
        some."""
        out = np.zeros(y.shape[1])
        for m, f, n, N in zip(self.members, self.factor, self.n_h, self.N_h, strict=True):
            if n >= N:  # sampled whole: known exactly
                continue
            if n < 2:
                out[:] = np.nan
                continue
            var = y[m].var(axis=0, ddof=1)
            if pseudo_count > 0:
                p = (y[m].sum(axis=0) + pseudo_count) / (n + 2 * pseudo_count)
                var = np.maximum(var, p * (1 - p) * n / (n - 1))
            out += f * var
        return out

    def ratio(self, y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ratio estimates R = Y/X of column pairs and their standard errors (the variance of
        the total of the residuals y - R x, over X^2)."""
        ty, tx = self.total(y), self.total(x)
        with np.errstate(invalid="ignore", divide="ignore"):
            r = ty / tx
            resid = y - np.where(np.isfinite(r), r, 0.0)[None, :] * x
            se = np.sqrt(self.total_var(resid)) / tx
        r[tx == 0] = np.nan
        se[tx == 0] = np.nan
        return r, se


def stratified_estimates(
    strata, map_classes, reference, stratum_sizes: Mapping[int, int], *,
    classes=None, class_names: Mapping[int, str] | None = None,
    mapped_pixels: Mapping[int, int] | None = None, pixel_area_ha: float | None = None,
    confidence: float = 0.95, pseudo_count: float = 0.0,
) -> AccuracyArea:
    """Accuracy and area estimates (see the module docstring) from sample points.

    ``strata``, ``map_classes`` and ``reference``: one value per point (its stratum, its map
    class, its reference class; class values > 0). ``stratum_sizes``: the number of population
    pixels in every stratum (N_h). ``classes``: the classes to report (default every map or
    reference class seen, and every stratum). ``mapped_pixels``: map-class pixel counts to
    show beside the estimates. ``pixel_area_ha``: hectares per pixel, for areas in ha.
    ``pseudo_count``: 0 (default) is Stehman's variance, whose interval has zero width where
    every point of a stratum agrees (a near-perfect class); a > 0 gives the standard errors of
    OA and of the areas a floor per stratum, that of (x + a) / (n + 2a) (a conservative
    interval; ``benchmarks/assess_coverage.py`` measures both).
    """
    if pseudo_count < 0:
        raise ValueError(f"the pseudo-count cannot be negative, got {pseudo_count}")
    s = np.asarray(strata, dtype=np.int64).ravel()
    m = np.asarray(map_classes, dtype=np.int64).ravel()
    r = np.asarray(reference, dtype=np.int64).ravel()
    if not s.size == m.size == r.size:
        raise ValueError(f"strata, map classes and references differ in length "
                         f"({s.size}, {m.size}, {r.size})")
    if s.size == 0:
        raise ValueError("no labelled sample points to estimate from")
    sizes = {int(k): int(v) for k, v in stratum_sizes.items()}
    missing = sorted(set(np.unique(s).tolist()) - set(sizes))
    if missing:
        raise ValueError(f"sample points in strata {missing} that have no stratum size")
    empty = sorted(h for h, n in sizes.items() if n > 0 and not np.any(s == h))
    if empty:
        raise ValueError(f"strata {empty} hold pixels but no labelled sample point: their "
                         "area cannot be estimated; label at least two points in each")
    over = [h for h in np.unique(s).tolist() if (s == h).sum() > sizes[h]]
    if over:
        raise ValueError(f"strata {over} have more sample points than pixels")
    sizes = {h: n for h, n in sizes.items() if n > 0}
    design = _Design(s, sizes)
    if classes is None:
        classes = set(np.unique(np.concatenate([m, r])).tolist()) | set(sizes)
    values = np.array(sorted({int(c) for c in classes}), dtype=np.int64)
    N = design.N
    ref_k = (r[:, None] == values[None, :]).astype(float)
    map_k = (m[:, None] == values[None, :]).astype(float)
    hit_k = map_k * ref_k
    correct = (m == r).astype(float)[:, None]

    oa = float(design.total(correct)[0] / N)
    oa_se = float(np.sqrt(design.total_var(correct, pseudo_count)[0]) / N)
    area = design.total(ref_k) / N
    area_se = np.sqrt(design.total_var(ref_k, pseudo_count)) / N
    users, users_se = design.ratio(hit_k, map_k)
    producers, producers_se = design.ratio(hit_k, ref_k)
    cells = (map_k[:, :, None] * ref_k[:, None, :]).reshape(s.size, -1)
    matrix = (design.total(cells) / N).reshape(values.size, values.size)

    names = {int(k): str(v) for k, v in (class_names or {}).items()}
    mapped = None if mapped_pixels is None else {int(k): int(v)
                                                 for k, v in mapped_pixels.items()}
    rows = []
    for i, v in enumerate(values.tolist()):
        rows.append(ClassEstimate(
            value=v, name=names.get(v, ""), points=int(map_k[:, i].sum()),
            mapped_pixels=None if mapped is None else mapped.get(v, 0),
            users=float(users[i]), users_se=float(users_se[i]),
            producers=float(producers[i]), producers_se=float(producers_se[i]),
            area_proportion=float(area[i]), area_proportion_se=float(area_se[i]),
            area_pixels=float(area[i] * N), area_pixels_se=float(area_se[i] * N),
            area_ha=None if pixel_area_ha is None else float(area[i] * N * pixel_area_ha),
            area_ha_se=None if pixel_area_ha is None else float(area_se[i] * N
                                                                * pixel_area_ha)))
    notes = []
    thin = [int(h) for h, n, big in zip(design.order, design.n_h, design.N_h, strict=True)
            if n < 2 <= big]
    if thin:
        notes.append(f"strata {thin} have one sample point: standard errors need two, so "
                     "those that depend on them are NaN")
    agree = [int(h) for h, mem, n, big in zip(design.order, design.members, design.n_h,
                                              design.N_h, strict=True)
             if 2 <= n < big and np.unique(r[mem]).size == 1]
    if agree and pseudo_count == 0:
        notes.append(f"in strata {agree} every sample point has the same reference class, so "
                     "they add no variance: intervals that depend on them understate the "
                     "uncertainty (a pseudo-count such as 0.1 gives conservative ones)")
    return AccuracyArea(oa=oa, oa_se=oa_se, classes=rows, matrix=matrix,
                        population_pixels=int(N), sample_points=int(s.size),
                        confidence=confidence, pixel_area_ha=pixel_area_ha,
                        pseudo_count=float(pseudo_count), notes=notes)
