"""Live mode (issue 18): a per-pixel spectral classifier fast enough to refit after every stroke.

A small MLP (bands -> ``hidden`` -> classes, ReLU) on z-scored spectra, trained full-batch with
Adam and class-balanced cross-entropy on the painted pixels only, then applied to every pixel
of the scene. It sees no spatial context (``smooth`` averages the probabilities over a small
window, a cheap spatial prior), so it is a first map while painting, not a substitute for
SSDGL: SSDGL is the refining pass. :class:`LiveScene` z-scores the cube once and keeps its
spectra as one ``(pixels, bands)`` matrix, so each refit costs only the fit and one matrix
product over the scene. It runs on the CPU with torch's current thread count.

The result, :class:`LiveClassifier`, predicts like a :class:`~..prediction.Classifier`
(``predict(cube)`` gives a :class:`~..prediction.Prediction`; ``class_values``, ``class_names``,
``colors``), so the same output code can show it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from napari_ssdgl.io.base import pixels
from napari_ssdgl.prediction.inference import Prediction
from napari_ssdgl.training.errors import TrainingError
from napari_ssdgl.training.sampling import LabelEncoder
from napari_ssdgl.transforms.normalize import band_statistics, normalize, replace_nonfinite

HIDDEN = 64
STEPS = 150
LR = 0.01
WEIGHT_DECAY = 1e-3
NOISE = 0.1  # std of the Gaussian noise added to the z-scored training spectra each step
# half-width of the probability smoothing window (0 = none). Indian Pines, 10 px per class,
# 3 seeds: OA 54 % without, 65 % (3x3), 68 % (5x5), 70 % (7x7); 5x5 blurs edges less
SMOOTH = 2


def _mlp(bands: int, hidden: int, classes: int) -> nn.Module:
    return nn.Sequential(nn.Linear(bands, hidden), nn.ReLU(), nn.Linear(hidden, classes))


@dataclass
class LiveClassifier:
    """A fitted live model: MLP + the normalisation and class table of its scene."""

    model: nn.Module
    mean: np.ndarray
    std: np.ndarray
    class_values: np.ndarray
    class_names: dict[int, str] = field(default_factory=dict)
    colors: dict[int, str] = field(default_factory=dict)
    smooth: int = SMOOTH
    fit_seconds: float = 0.0
    model_name: str = "live-mlp"

    @property
    def bands(self) -> int:
        return int(np.asarray(self.mean).size)

    @property
    def num_classes(self) -> int:
        return int(np.asarray(self.class_values).size)

    def predict_pixels(self, pixels: torch.Tensor, shape: tuple[int, int]) -> Prediction:
        """Prediction of z-scored ``(rows*cols, bands)`` spectra laid out as ``shape``."""
        self.model.eval()
        with torch.inference_mode():
            probs = torch.softmax(self.model(pixels), dim=1).T.reshape(-1, *shape)
            if self.smooth:
                k = 2 * int(self.smooth) + 1
                probs = nn.functional.avg_pool2d(probs[None], k, stride=1, padding=self.smooth,
                                                 count_include_pad=False)[0]
        return Prediction.from_probabilities(probs.numpy(), self.class_values)

    def predict(self, cube) -> Prediction:
        """Class map and probabilities of a (bands, rows, cols) cube (or a :class:`LiveScene`)."""
        bands = cube.bands if isinstance(cube, LiveScene) else np.shape(getattr(cube, "data",
                                                                               cube))[0]
        if bands != self.bands:
            raise TrainingError(f"the cube has {bands} bands but the live model was fitted on "
                                f"{self.bands}")
        scene = cube if isinstance(cube, LiveScene) else LiveScene(cube, self.mean, self.std)
        return self.predict_pixels(scene.pixels, scene.shape)


class LiveScene:
    """One cube's z-scored spectra, made once for many live fits (``fit``) and maps."""

    def __init__(self, cube, mean: np.ndarray | None = None, std: np.ndarray | None = None):
        cube = np.asarray(pixels(cube))
        if cube.ndim != 3:
            raise TrainingError(f"the cube must be 3-D (bands, rows, cols), got shape {cube.shape}")
        clean, _ = replace_nonfinite(cube, fill=mean)
        if mean is None or std is None:
            mean, std = band_statistics(clean)
        self.mean, self.std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
        x = normalize(clean, self.mean, self.std, out=clean)
        self.bands, self.shape = int(cube.shape[0]), tuple(cube.shape[1:])
        self.pixels = torch.from_numpy(np.ascontiguousarray(x.reshape(self.bands, -1).T))
        self._last = LastFit()

    def fit(self, labels: np.ndarray, **options) -> LiveClassifier:
        """Fit the MLP on the painted pixels of ``labels`` ((rows, cols), 0 = unlabelled); see
        :func:`fit_spectra` for ``options``. Unchanged labels give the last fit back."""
        where, values = painted(labels, self.shape)
        return self._last.get(where, values, options, lambda: fit_spectra(
            self.pixels[torch.from_numpy(where)], values, self.mean, self.std, **options))


class LastFit:
    """A scene's last fit and what it was made from. Fits are seeded, so a refit on the same
    painted pixels, classes and options would give the same model: a pan or zoom of a lazy
    scene's view, or a stroke that changed nothing, gets the last one back, without a fit."""

    def __init__(self) -> None:
        self._last: tuple | None = None

    def get(self, where: np.ndarray, values: np.ndarray, options: dict, fit) -> LiveClassifier:
        last = self._last
        if (last is not None and np.array_equal(last[0], where)
                and np.array_equal(last[1], values) and last[2] == options):
            return last[3]
        clf = fit()
        self._last = (where, values, dict(options), clf)
        return clf


class LazyLiveScene:
    """Live mode on a lazy (dask) cube too big to hold: only the painted pixels' spectra are
    read for a fit (each pixel once, cached across strokes), and a map is made of one region
    at a time (:meth:`region`), the part of the scene in view. The z-score statistics come from
    a bounded sample of windows (:data:`STAT_WINDOWS` of :data:`STAT_SIZE` px, spread over the
    scene), never from the whole cube."""

    def __init__(self, data) -> None:
        import dask.array as da

        self.data = data if isinstance(data, da.Array) else da.from_array(data)
        if self.data.ndim != 3:
            raise TrainingError(f"the cube must be 3-D (bands, rows, cols), got shape "
                                f"{self.data.shape}")
        self.bands, self.shape = int(self.data.shape[0]), tuple(self.data.shape[1:])
        sample = sample_windows(self.data, STAT_WINDOWS, STAT_SIZE)
        clean, _ = replace_nonfinite(np.ascontiguousarray(sample.T)[:, None, :])
        self.mean, self.std = (np.asarray(v, np.float32) for v in band_statistics(clean))
        self._view: tuple | None = None  # (region key, its LiveScene): strokes in one view
        self._known = np.empty(0, np.int64)  # flat pixel indices read so far, sorted
        self._spectra = np.empty((0, self.bands), np.float32)  # their z-scored spectra
        self._last = LastFit()

    def spectra(self, where: np.ndarray) -> torch.Tensor:
        """Z-scored spectra of the flat pixel indices ``where`` (sorted), reading only the
        pixels not read before: those the last :meth:`region` holds are taken from it, and for
        each chunk holding others, the box around them is read."""
        new = np.setdiff1d(where, self._known, assume_unique=True)
        if new.size:
            z = np.empty((new.size, self.bands), np.float32)
            held = self._in_view(new)
            rest = held < 0
            if not rest.all():
                z[~rest] = self._view[1].pixels[torch.from_numpy(held[~rest])].numpy()
            if rest.any():
                rows, cols = np.divmod(new[rest], self.shape[1])
                raw = read_pixels(self.data, rows, cols)
                clean, _ = replace_nonfinite(raw[:, None, :], fill=self.mean)
                z[rest] = normalize(clean, self.mean, self.std, out=clean)[:, 0, :].T
            known = np.concatenate([self._known, new])
            order = np.argsort(known, kind="stable")
            self._known = known[order]
            self._spectra = np.concatenate([self._spectra, z])[order]
        at = np.searchsorted(self._known, where)
        return torch.from_numpy(np.ascontiguousarray(self._spectra[at]))

    def fit(self, labels: np.ndarray, **options) -> LiveClassifier:
        """:meth:`LiveScene.fit` on the painted pixels, read from the lazy cube."""
        where, values = painted(labels, self.shape)  # checked before anything is read
        return self._last.get(where, values, options, lambda: fit_spectra(
            self.spectra(where), values, self.mean, self.std, **options))

    def _in_view(self, flat: np.ndarray) -> np.ndarray:
        """For each flat pixel index, its row in the last region's spectra, or -1 when that
        region does not hold it (outside it, or between the pixels of a coarse one)."""
        at = np.full(flat.size, -1, np.int64)
        if self._view is None:
            return at
        (r0, r1, c0, c1, step), _ = self._view
        rows, cols = np.divmod(flat, self.shape[1])
        inside = ((rows >= r0) & (rows < r1) & (cols >= c0) & (cols < c1)
                  & ((rows - r0) % step == 0) & ((cols - c0) % step == 0))
        width = len(range(c0, c1, step))
        at[inside] = (rows[inside] - r0) // step * width + (cols[inside] - c0) // step
        return at

    def region(self, rows: slice, cols: slice, step: int = 1) -> LiveScene:
        """The z-scored spectra of the region ``rows`` x ``cols`` of the cube, every ``step``-th
        pixel each way (a wide view is mapped coarser, at the same cost); the last region is
        kept, so strokes in one view read it once, and a fit takes the painted pixels it holds
        from it (:meth:`spectra`): map the view first, then fit."""
        (r0, r1, _), (c0, c1, _) = rows.indices(self.shape[0]), cols.indices(self.shape[1])
        key = (r0, r1, c0, c1, step)
        if self._view is None or self._view[0] != key:
            block = np.asarray(self.data[:, r0:r1:step, c0:c1:step], dtype=np.float32)
            self._view = (key, LiveScene(block, self.mean, self.std))
        return self._view[1]


STAT_WINDOWS = 16  # windows sampled for a lazy cube's band statistics ...
STAT_SIZE = 32  # ... of this many px a side: 16 x 32 x 32 spectra at most


def sample_windows(data, count: int, size: int) -> np.ndarray:
    """(pixels, bands) spectra of the ``io.lazy.spread_windows`` of the (bands, rows, cols)
    lazy ``data``: a bounded read (``count`` chunks at most), whatever the scene's size."""
    import dask.array as da

    from napari_ssdgl.io.lazy import spread_windows

    parts = [data[:, r, c] for r, c in spread_windows(data.chunks, count, size)]
    return np.concatenate([np.asarray(p, np.float32).reshape(data.shape[0], -1).T
                           for p in da.compute(*parts)])


def read_pixels(data, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """(bands, pixels) values of a lazy (bands, rows, cols) cube at the given pixels: for each
    chunk holding some, one read of the box around them (a stroke touches a few chunks)."""
    import dask.array as da

    out = np.empty((data.shape[0], rows.size), np.float32)
    edges = [np.cumsum((0,) + data.chunks[a]) for a in (1, 2)]
    cr = np.searchsorted(edges[0], rows, side="right") - 1
    cc = np.searchsorted(edges[1], cols, side="right") - 1
    chunk = cr * len(edges[1]) + cc  # each pixel's chunk
    groups, reads = [], []
    for key in np.unique(chunk):
        member = np.flatnonzero(chunk == key)
        r0, r1 = rows[member].min(), rows[member].max() + 1
        c0, c1 = cols[member].min(), cols[member].max() + 1
        groups.append((member, r0, c0))
        reads.append(data[:, r0:r1, c0:c1])
    for (member, r0, c0), box in zip(groups, da.compute(*reads), strict=True):
        out[:, member] = np.asarray(box)[:, rows[member] - r0, cols[member] - c0]
    return out


def painted(labels: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(flat indices, class values) of the painted pixels of ``labels`` ((rows, cols), 0 =
    unlabelled), refused unless they fit ``shape`` and hold at least 2 classes."""
    labels = np.asarray(labels)
    if labels.shape != shape:
        raise TrainingError(f"labels have shape {labels.shape} but the cube is {shape}")
    flat = labels.reshape(-1).astype(np.int64)
    where = np.flatnonzero(flat > 0)
    if np.unique(flat[where]).size < 2:
        raise TrainingError("live mode needs painted pixels of at least 2 classes")
    return where, flat[where]


def fit_spectra(x: torch.Tensor, values: np.ndarray, mean: np.ndarray, std: np.ndarray, *,
                hidden: int = HIDDEN, steps: int = STEPS, lr: float = LR,
                weight_decay: float = WEIGHT_DECAY, noise: float = NOISE, smooth: int = SMOOTH,
                seed: int = 0, class_names: dict | None = None,
                colors: dict | None = None) -> LiveClassifier:
    """The MLP fitted on z-scored ``(pixels, bands)`` spectra ``x`` of class ``values`` (> 0,
    at least 2 classes: :func:`painted`), class-balanced; ``mean``/``std`` are the
    normalisation it is to be applied with."""
    start = time.perf_counter()
    encoder = LabelEncoder.from_labels(values)
    y = torch.from_numpy(encoder.encode(values))
    counts = torch.bincount(y, minlength=len(encoder)).float()
    weights = counts.sum() / (len(encoder) * counts)  # balanced: rare classes count as much
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = _mlp(x.shape[1], hidden, len(encoder))
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss(weight=weights)
    model.train()
    for _ in range(int(steps)):
        xi = x + noise * torch.randn(x.shape, generator=gen) if noise else x
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xi), y)
        loss.backward()
        opt.step()
    names, cols = dict(class_names or {}), dict(colors or {})
    out = encoder.values
    return LiveClassifier(
        model.eval(), mean, std, out,
        class_names={int(v): names[v] for v in out if v in names},
        colors={int(v): cols[v] for v in out if v in cols},
        smooth=int(smooth), fit_seconds=time.perf_counter() - start)


def fit_pixels(cube, labels: np.ndarray, **options) -> LiveClassifier:
    """Fit a live model on the painted pixels of ``labels`` over ``cube`` (see
    :meth:`LiveScene.fit` for ``options``)."""
    return LiveScene(cube).fit(labels, **options)
